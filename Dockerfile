# Text2Head Studio as a Docker Space (or any Docker host): `docker build -t text2head .` then
# `docker run -p 7860:7860 text2head`. Same pinned requirements and install commands as the
# README's quick start; Spaces run the container as uid 1000.
FROM python:3.11-slim

RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    HF_HOME=/home/user/.cache/huggingface \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    PYTHONUNBUFFERED=1
WORKDIR /home/user/app

# Requirements first, so that code changes do not reinstall torch.
COPY --chown=user requirements.txt .
RUN pip install --no-cache-dir --user -r requirements.txt
COPY --chown=user . .
RUN pip install --no-cache-dir --user --no-deps -e . && mkdir -p "$HF_HOME"

EXPOSE 7860
CMD ["python", "app.py"]
