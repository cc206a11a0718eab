"""Conditioning mechanisms, where they attach in the Wave-U-Net, and the conditioned separator."""
