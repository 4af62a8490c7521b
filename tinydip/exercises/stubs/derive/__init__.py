"""The derive-level stubs: the forward and the shapes, no backward equations."""
