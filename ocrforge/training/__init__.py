"""ocrforge.training"""
