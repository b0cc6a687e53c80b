"""Animation clips of a head's morph targets: idle, expression and talk."""
