"""Listing photos: read any photo safely as RGB, and hash them for the image channel."""
