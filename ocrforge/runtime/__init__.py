"""ocrforge.runtime"""
