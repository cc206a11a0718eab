"""Waveform I/O and resampling, the Wave-U-Net, losses, long-audio inference and metrics."""
