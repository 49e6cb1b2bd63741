"""Media repository: uploads, downloads, thumbnails, URL previews, retention."""
