"""Video decoding and muxing (PyAV), the instrument detector (ultralytics), detections -> label vectors."""
