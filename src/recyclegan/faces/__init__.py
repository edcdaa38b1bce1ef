"""Faces: find one subject's face in a video, follow it steadily, crop it, paste it back."""
