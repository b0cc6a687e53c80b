"""One renderable mesh of a decoded head and all its parts, so that one rasterizer pass
draws them with correct occlusion (hair over the forehead, lashes over the eyes, teeth
inside the mouth and hidden when it closes).

The parts share one texture atlas of square tiles side by side: the head's albedo, the
beard's fibres (in the head's UV layout, since beard shells reuse the skin's UVs), hair
strands, fine strands (brows, lashes) and a plain white tile (teeth). Tiles hold luminance
and alpha; each part's colour rides on its vertex colours (the renderer multiplies them),
so colour gradients reach the hair parameters directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from text2head.geometry import fit_spheres, vertex_normals
from text2head.heads.look import EYE_COMPONENTS
from text2head.heads.occlusion import OcclusionCache
from text2head.heads.params import HeadParams
from text2head.heads.strands import FINE_STRANDS, HAIR_STRANDS, fibre_noise, strand_tile
from text2head.render import face_neighbors

TILES = ("head", "beard", "hair_strands", "fine_strands", "plain")
TILE_OF_PART = {"hair": "hair_strands", "eyebrows": "fine_strands",
                "eyelashes": "fine_strands", "teeth": "plain", "facial_hair": "beard"}
STRAND_PARTS = ("hair", "eyebrows", "eyelashes", "facial_hair")  # cut-out, strand shading
HAIR_SEED, FINE_SEED, BEARD_SEED = 11, 12, 13
# Hair shades like a volume, not like the cards it is made of: its normals lean this far from
# the card's own toward the direction out from the head's centre.
HAIR_VOLUME_NORMALS = 0.7
# The cornea bulges out of the eyeball: a sphere of this fraction of the eyeball's radius,
# touching the eyeball's front; the key light's reflection on it is the catchlight.
CORNEA_RATIO = 0.55


@dataclass(frozen=True)
class Scene:
    """Everything `text2head.render.render` needs for a head with its parts."""

    vertices: Tensor  # (B, N, 3)
    faces: Tensor  # (F, 3)
    corner_uvs: Tensor  # (F, 3, 2) in the atlas
    texture: Tensor  # (B, 4, T, len(TILES) * T) luminance/albedo and alpha
    vertex_colors: Tensor  # (B, N, 3)
    normals: Tensor  # (B, N, 3)
    tangents: Tensor  # (B, N, 3) strand direction (zero off the strands)
    cutout_faces: Tensor  # (F,) bool
    hair_faces: Tensor  # (F,) bool
    neighbors: Tensor  # face adjacency for silhouette antialiasing
    part_faces: dict[str, slice]  # which faces belong to each part ("head" included)
    occlusion: Tensor | None  # (B, N) ambient occlusion, 1 = open (see heads.occlusion)
    eyes: Tensor  # (B, 2, 4) cornea spheres (centre, radius) for the catchlights
    gloss: Tensor  # (1, N) specular scale: T-zone, lips (see heads.look)

    def render_kwargs(self) -> dict[str, Tensor]:
        """Keyword arguments of `render` (besides vertices, faces and cameras)."""
        return {"corner_uvs": self.corner_uvs, "texture": self.texture,
                "vertex_colors": self.vertex_colors, "normals": self.normals,
                "tangents": self.tangents, "cutout_faces": self.cutout_faces,
                "hair_faces": self.hair_faces, "neighbors": self.neighbors,
                "occlusion": self.occlusion, "eyes": self.eyes, "gloss": self.gloss}


class SceneComposer:
    """Builds `Scene`s; caches the strand tiles, per set of styles the topology, and the
    ambient occlusion of the last few heads."""

    def __init__(self, model):
        self.model = model
        self._tiles: dict[tuple, Tensor] = {}
        self._topology: dict[tuple, tuple] = {}
        self.occlusion = OcclusionCache(model, scene_vertices)
        self._eyes = EyeRig(model.template, model.component)

    def compose(self, head: HeadParams, decoded, occlusion: bool = True,
                occlusion_cache: OcclusionCache | None = None) -> Scene:
        """The scene of a decoded batch of heads (`decoded` = `model.decode(head)`), with its
        ambient occlusion unless told otherwise, from `occlusion_cache` when given (else the
        composer's own)."""
        kinds = list(decoded.parts)
        size = decoded.texture.shape[-1]
        # Strand faces (hair, brows, lashes, beard) are both cut out and strand-shaded.
        faces, corner_uvs, strands, neighbors, spans = self._topology_of(decoded, kinds, size)
        vertices = scene_vertices(decoded)
        batch = len(vertices)
        colours = [decoded.vertices.new_ones(decoded.vertices.shape)]
        normals = [decoded.normals]
        tangents = [torch.zeros_like(decoded.vertices)]
        for kind in kinds:
            part = decoded.parts[kind]
            colours.append(decoded.part_colours[kind][:, None].expand(part.vertices.shape))
            normals.append(self._normals(kind, part, decoded.vertices))
            tangents.append(self._tangents(kind, part, decoded.rotation))
        density = self.model.hair_value(head.hair, "beard_density")
        return Scene(vertices=vertices, faces=faces, corner_uvs=corner_uvs,
                     texture=self.atlas(decoded.texture, density),
                     vertex_colors=torch.cat(colours, 1).expand(batch, -1, -1),
                     normals=torch.cat(normals, 1), tangents=torch.cat(tangents, 1),
                     cutout_faces=strands, hair_faces=strands, neighbors=neighbors,
                     part_faces=spans,
                     occlusion=((occlusion_cache or self.occlusion)(
                         head, vertices, decoded.rotation, faces, strands) if occlusion else None),
                     eyes=self._eyes.corneas(decoded.vertices),
                     gloss=self._gloss(vertices))

    def atlas(self, head_texture: Tensor, beard_density: Tensor) -> Tensor:
        """(B, 4, T, 5T): the head albedo (opaque) beside the part tiles."""
        batch, _, size, _ = head_texture.shape
        like = head_texture
        hair, fine, _ = self._strand_tiles(size, like)
        opaque = like.new_ones(batch, 1, size, size)
        tiles = [torch.cat([head_texture, opaque], 1), self._beard_tile(size, beard_density),
                 hair.expand(batch, -1, -1, -1), fine.expand(batch, -1, -1, -1),
                 like.new_ones(batch, 4, size, size)]
        return torch.cat(tiles, dim=3)

    def tile(self, kind: str, size: int, beard_density: Tensor) -> Tensor:
        """(4, size, size) the luminance/alpha tile a strand part is textured with."""
        hair, fine, _ = self._strand_tiles(size, beard_density)
        if kind == "hair":
            return hair[0]
        if kind in ("eyebrows", "eyelashes"):
            return fine[0]
        return self._beard_tile(size, beard_density[:1])[0]

    def _beard_tile(self, size: int, density: Tensor) -> Tensor:
        """(B, 4, size, size) beard fibres; denser beards keep more of them. The threshold is
        soft (a smoothstep `softness` wide in noise rank), so fibres have soft edges and the
        beard's coverage has a gradient in its density."""
        noise, softness = self._strand_tiles(size, density)[2], 0.12
        threshold = (0.25 + 0.6 * density)[:, None, None]
        t = ((threshold - noise[None]) / softness + 0.5).clamp(0, 1)
        alpha = t * t * (3 - 2 * t)
        luminance = (0.75 + 0.35 * noise)[None].expand(len(density), 3, -1, -1)
        return torch.cat([luminance, alpha[:, None]], dim=1)

    def _strand_tiles(self, size: int, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        key = (size, like.device, like.dtype)
        if key not in self._tiles:
            tiles = []
            for style, seed in ((HAIR_STRANDS, HAIR_SEED), (FINE_STRANDS, FINE_SEED)):
                luminance, alpha = (torch.from_numpy(a) for a in strand_tile(size, style, seed))
                tiles.append(torch.cat([luminance.expand(3, -1, -1), alpha[None]])[None].to(like))
            tiles.append(torch.from_numpy(fibre_noise(size, BEARD_SEED)).to(like))
            self._tiles[key] = tuple(tiles)
        return self._tiles[key]

    def _topology_of(self, decoded, kinds: list[str], size: int) -> tuple:
        """Faces, atlas UVs, the strand-face mask, adjacency and per-part face spans (cached)."""
        device = decoded.vertices.device
        key = (tuple((k, decoded.parts[k].vertices.shape[1], decoded.parts[k].faces.shape[0])
                     for k in kinds), size, device)
        if key not in self._topology:
            model = self.model
            faces, uvs, strands = [model.faces], [to_tile(model.corner_uvs, "head", size)], [
                torch.zeros(len(model.faces), dtype=torch.bool, device=device)]
            spans, start, offset = {"head": slice(0, len(model.faces))}, len(model.faces), len(
                model.template)
            for kind in kinds:
                part = decoded.parts[kind]
                faces.append(part.faces + offset)
                uvs.append(to_tile(part.corner_uvs, TILE_OF_PART[kind], size))
                strands.append(torch.full((len(part.faces),), kind in STRAND_PARTS,
                                          dtype=torch.bool, device=device))
                spans[kind] = slice(start, start + len(part.faces))
                start += len(part.faces)
                offset += part.vertices.shape[1]
            all_faces = torch.cat(faces)
            self._topology[key] = (all_faces, torch.cat(uvs), torch.cat(strands),
                                   face_neighbors(all_faces), spans)
        return self._topology[key]

    def _gloss(self, vertices: Tensor) -> Tensor:
        """(1, N) the head's specular scale, 1 on the parts."""
        head = self.model.look.gloss.to(vertices)
        return torch.cat([head, head.new_ones(vertices.shape[1] - len(head))])[None]

    @staticmethod
    def _normals(kind: str, part, head_vertices: Tensor) -> Tensor:
        """(B, P, 3) a part's vertex normals; the hair's lean out from the head's centre."""
        normals = vertex_normals(part.vertices, part.faces)
        if kind != "hair":
            return normals
        centre = head_vertices.mean(dim=1, keepdim=True)
        outward = torch.nn.functional.normalize(part.vertices - centre, dim=-1)
        # Cards are double-sided: lean each normal toward the side of the card facing out.
        facing = torch.where((normals * outward).sum(-1, keepdim=True) < 0, -normals, normals)
        return torch.nn.functional.normalize(
            facing + HAIR_VOLUME_NORMALS * (outward - facing), dim=-1)

    def _tangents(self, kind: str, part, rotation: Tensor) -> Tensor:
        """Per-vertex strand direction: down the card's v axis (roots at high v); facial
        hair grows downward on the face."""
        if kind == "facial_hair":
            down = -rotation[:, :, 1]  # the head's own down, posed
            return down[:, None].expand(part.vertices.shape)
        if kind == "teeth":
            return torch.zeros_like(part.vertices)
        return card_tangents(part.vertices, part.faces, part.corner_uvs)


class EyeRig:
    """Corneas of the posed eyes, from points rigidly attached to each eyeball.

    One eyeball of the mesh lacks its back, so a sphere fitted to its posed vertices is poorly
    conditioned. Instead the centre and front pole of each eye are fitted once on the template
    (the complete eye; the other is its mirror image) and written as affine combinations of
    the eye's vertices, which follow any rigid motion of the eye (gaze, head pose) exactly.
    """

    def __init__(self, template: Tensor, component: Tensor):
        self.ids = [torch.nonzero(component == c).squeeze(1) for c in EYE_COMPONENTS]
        sphere = fit_spheres(template[self.ids[0]][None].double())[0]
        centre, self.radius = sphere[:3], float(sphere[3])
        mirror = centre.new_tensor([-1.0, 1.0, 1.0])
        pole = centre.new_tensor([0.0, 0.0, self.radius])
        self.weights = [_affine_weights(template[ids].double(), torch.stack(
            [c, c + pole])).to(template) for ids, c in zip(self.ids, (centre, centre * mirror),
                                                            strict=True)]

    def corneas(self, vertices: Tensor) -> Tensor:
        """(B, 2, 4) cornea spheres (centre, radius) of head vertices (B, V, 3)."""
        spheres = []
        for ids, weights in zip(self.ids, self.weights, strict=True):
            centre, pole = (weights.to(vertices) @ vertices[:, ids]).unbind(1)  # (B, 3) each
            radius = (pole - centre).norm(dim=-1, keepdim=True)
            forward = (pole - centre) / radius
            cornea = CORNEA_RATIO * radius
            spheres.append(torch.cat([centre + (radius - cornea) * forward, cornea], dim=-1))
        return torch.stack(spheres, dim=1)


def _affine_weights(points: Tensor, targets: Tensor) -> Tensor:
    """(T, P) least-norm weights, each row summing to 1, with weights @ points = targets."""
    system = torch.cat([points.T, points.new_ones(1, len(points))])  # (4, P)
    rhs = torch.cat([targets.T, targets.new_ones(1, len(targets))])  # (4, T)
    return (torch.linalg.pinv(system) @ rhs).T


def scene_vertices(decoded) -> Tensor:
    """(B, N, 3) the head's vertices followed by each part's, in `decoded.parts` order."""
    return torch.cat([decoded.vertices, *(part.vertices for part in decoded.parts.values())], 1)


def to_tile(corner_uvs: Tensor, tile: str, size: int) -> Tensor:
    """UVs in [0, 1]² moved into their tile of the atlas, one texel in from its sides so that
    bilinear lookups never read the neighbouring tile."""
    margin = 1.0 / size
    u = corner_uvs[..., 0].clamp(0, 1) * (1 - 2 * margin) + margin
    v = corner_uvs[..., 1].clamp(0, 1) * (1 - 2 * margin) + margin
    return torch.stack([(TILES.index(tile) + u) / len(TILES), v], dim=-1)


def card_tangents(vertices: Tensor, faces: Tensor, corner_uvs: Tensor) -> Tensor:
    """(B, P, 3) direction from root to tip: minus the surface derivative along v."""
    corners = vertices.index_select(1, faces.reshape(-1)).view(len(vertices), -1, 3, 3)
    edge1, edge2 = corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0]
    duv1 = corner_uvs[:, 1] - corner_uvs[:, 0]
    duv2 = corner_uvs[:, 2] - corner_uvs[:, 0]
    # dP/dv from the two edges: solve [duv1; duv2] [dP/du; dP/dv] = [edge1; edge2].
    det = duv1[:, 0] * duv2[:, 1] - duv1[:, 1] * duv2[:, 0]
    det = torch.where(det.abs() > 1e-12, det, torch.ones_like(det))
    along_v = (duv1[:, 0, None] * edge2 - duv2[:, 0, None] * edge1) / det[:, None]
    summed = torch.zeros_like(vertices)
    for k in range(3):
        summed = summed.index_add(1, faces[:, k], -along_v)
    return summed
