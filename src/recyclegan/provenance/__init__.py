"""Marking outputs as synthetic and finding the marks: an invisible watermark in the frames,
container metadata and, optionally, a signed C2PA manifest."""
