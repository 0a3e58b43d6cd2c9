"""attunexr: AI-assisted VR mental-health care and research under clinician supervision."""

__version__ = "0.1.0"
__all__ = ["__version__"]
