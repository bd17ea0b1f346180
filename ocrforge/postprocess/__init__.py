"""ocrforge.postprocess"""
