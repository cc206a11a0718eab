"""Training segments written once as litdata shards (local folder or ``s3://``) and streamed back.

Shards freeze a number of mixed examples so that training reads them at disk (or network) speed
instead of mixing on the fly: useful on many machines, or when mixing is slower than a step.
"""

from __future__ import annotations

from pathlib import Path

import litdata
import numpy as np


class _ExampleAt:
    """Picklable ``index -> example`` for litdata's worker processes."""

    def __init__(self, examples):
        self.examples = examples

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        return self.examples[index]


def write_shards(examples, output_dir: str | Path, num_workers: int = 1, chunk_bytes: str = "64MB") -> None:
    """Write every example of ``examples`` (a mixer: ``len`` and ``[i]``) as litdata shards.

    ``output_dir`` is a local folder or an ``s3://bucket/prefix`` URL. litdata starts worker
    processes, so call this from a module or script, not from an interactive stdin session.
    """
    output_dir = str(output_dir)
    if not output_dir.startswith("s3://"):
        out = Path(output_dir)
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"{out} is not empty; shards go to a new or empty folder")
        out.mkdir(parents=True, exist_ok=True)
        output_dir = str(out.resolve())
    litdata.optimize(
        fn=_ExampleAt(examples),
        inputs=list(range(len(examples))),
        output_dir=output_dir,
        num_workers=num_workers,
        chunk_bytes=chunk_bytes,
        verbose=False,
    )


class ShardDataset:
    """Map-style reader of shards written by :func:`write_shards`: ``[i]`` is the example dict."""

    def __init__(self, input_dir: str | Path, shuffle: bool = False, seed: int = 0):
        input_dir = str(input_dir)
        if not input_dir.startswith("s3://"):
            if not (Path(input_dir) / "index.json").is_file():
                raise FileNotFoundError(f"{input_dir} holds no litdata shards (no index.json)")
            input_dir = str(Path(input_dir).resolve())
        self.stream = litdata.StreamingDataset(input_dir, shuffle=shuffle, seed=seed)

    def __len__(self) -> int:
        return len(self.stream)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.stream[index].items()}
