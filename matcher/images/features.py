"""Backbone features of listing photos, for the image channel.

On a CPU the fastest arrangement is data parallel: each of `threads` workers
decodes a small batch and runs the model on it with torch's own threading off,
so decoding and inference overlap across the cores with no hand-off between them
(about as fast as the bare model on already-decoded tensors, see
docs/image-benchmark.md). JPEGs decode at a reduced scale where the photo is much
larger than the model's input. Features are cached by the sha1 of each file's
bytes: a rebuild only hashes unchanged photos, and sellers' reused photos are
computed once however they are named.
"""
from __future__ import annotations

import hashlib
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from matcher.atomic import atomic_file
from matcher.images.backbone import create_backbone, feature_dim, make_transform, preprocess_config
from matcher.images.read import ImageProblem, read_image
from matcher.images.runtime import resolve_device, torch_threads


CPU_BATCH = 4  # small batches run fastest on a CPU core (bench/images.py measures each size)
GPU_BATCH = 64


class FeatureExtractor:
    """Backbone features of photos, batched, decoded on a thread, cached by file content."""

    def __init__(self, backbone: str = "tf_efficientnet_lite0", batch_size: int | None = None, threads: int = 2,
                 cache_dir=None, device: str = "auto", weights: dict[str, torch.Tensor] | None = None):
        """`weights`: a fine-tuned state of the backbone, in place of its ImageNet weights."""
        self.backbone, self.threads = backbone, threads
        self.device = resolve_device(device)
        self.batch_size = batch_size or (CPU_BATCH if self.device.type == "cpu" else GPU_BATCH)
        self.model = create_backbone(backbone, pretrained=weights is None)
        if weights is not None:
            self.model.load_state_dict(weights)
        self.model.eval().to(self.device)
        # Features of other weights are other features: each set of weights has its own cache file and keys.
        self.weights_id = backbone if weights is None else f"{backbone}-{state_digest(weights)[:12]}"
        self.transform = make_transform(self.model)
        self.dim = feature_dim(self.model)
        side = max(preprocess_config(self.model)["input_size"][1:])
        self._draft = (2 * side, 2 * side)  # room for the resize to the model's input without aliasing
        self.cache_path = Path(cache_dir) / f"features-{self.weights_id}.npz" if cache_dir is not None else None
        self._cache: dict[str, np.ndarray] | None = None  # content key -> unit feature vector; loaded on first use
        self._digests: dict[Path, tuple[tuple[int, int], str]] = {}  # path -> ((size, mtime_ns), sha1 of bytes)

    def transform_paths(self, paths) -> tuple[np.ndarray, np.ndarray, list[ImageProblem]]:
        """(n x dim float32 unit rows, present mask, problems in path order); unreadable photos give zero rows."""
        paths = [Path(path) for path in paths]
        cache = self._load_cache()
        with ThreadPoolExecutor(self.threads) as pool:
            hashed = list(pool.map(self._hash, paths))
            first_path = {}  # one path per new content, so identical photos are decoded and computed once
            for path, (key, _) in zip(paths, hashed):
                if key is not None and key not in cache:
                    first_path.setdefault(key, path)
            failed = self._compute(first_path, pool)
        if first_path.keys() - failed.keys() and self.cache_path is not None:
            self._save_cache()
        features = np.zeros((len(paths), self.dim), np.float32)
        present = np.zeros(len(paths), bool)
        problems = []
        for i, (path, (key, problem)) in enumerate(zip(paths, hashed)):
            if key in cache:
                features[i], present[i] = cache[key], True
            else:
                problems.append(problem or _renamed(failed[key], path))
        return features, present, problems

    def transform_catalog(self, catalog) -> tuple[np.ndarray, np.ndarray, list[ImageProblem]]:
        """transform_paths for every listing; a listing without a photo file gets a zero row (loading reported it)."""
        paths = [catalog.image_path(i) for i in range(len(catalog))]
        rows = [i for i, path in enumerate(paths) if path is not None]
        found, found_present, problems = self.transform_paths([paths[i] for i in rows])
        features = np.zeros((len(catalog), self.dim), np.float32)
        present = np.zeros(len(catalog), bool)
        features[rows], present[rows] = found, found_present
        return features, present, problems

    def _hash(self, path: Path) -> tuple[str | None, ImageProblem | None]:
        """(content key, None), or (None, problem) for a file that cannot be read, worded by read_image.

        A build embeds the same photos several times (tuning, then the final fit);
        a file whose size and modification time are unchanged is not read again.
        """
        try:
            stat = path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
            if self._digests.get(path, (None,))[0] != stamp:
                with open(path, "rb") as file:
                    self._digests[path] = (stamp, hashlib.file_digest(file, "sha1").hexdigest())
        except OSError as err:
            problem = read_image(path)[1]
            return None, problem or ImageProblem(str(path), f"{path.name} cannot be read ({err}); check the file")
        return f"{self.weights_id}/{self._digests[path][1]}", None

    def _compute(self, first_path: dict[str, Path], pool: ThreadPoolExecutor) -> dict[str, ImageProblem]:
        """Cache the features of each content key's photo; return the problems of those that do not decode.

        Each worker decodes and embeds whole batches; on a CPU torch runs one thread
        per worker, since the workers already use every core.
        """
        items = list(first_path.items())
        batches = [items[start:start + self.batch_size] for start in range(0, len(items), self.batch_size)]
        failed = {}
        with tqdm(total=len(items), desc="image features", unit="photo", disable=None) as progress, \
                torch_threads(1 if self.device.type == "cpu" else self.threads):
            for keys, features, problems in pool.map(self._decode_and_embed, batches):
                self._cache.update(zip(keys, features))
                failed.update(problems)
                progress.update(len(keys) + len(problems))
        return failed

    def _decode_and_embed(self, batch: list[tuple[str, Path]]):
        """(keys, their features, {key: problem} for photos that do not decode) for one batch."""
        keys, tensors, problems = [], [], {}
        for key, path in batch:
            tensor, problem = self.decode(path)
            if problem is None:
                keys.append(key)
                tensors.append(tensor)
            else:
                problems[key] = problem
        return keys, self._embed(tensors) if tensors else [], problems

    def decode(self, path) -> tuple[torch.Tensor | None, ImageProblem | None]:
        """(model input tensor, None) or (None, problem): the photo read at draft scale and preprocessed."""
        image, problem = read_image(path, draft_size=self._draft)
        return (None, problem) if image is None else (self.transform(image), None)

    def _embed(self, batch: list[torch.Tensor]) -> np.ndarray:
        with torch.inference_mode():
            out = self.model(torch.stack(batch).to(self.device)).float()
        return torch.nn.functional.normalize(out, dim=1).cpu().numpy()

    def _load_cache(self) -> dict[str, np.ndarray]:
        """The cache, read from disk once; an unreadable file is only a lost cache, so it warns and starts empty."""
        if self._cache is None:
            self._cache = {}
            if self.cache_path is not None and self.cache_path.exists():
                try:
                    with np.load(self.cache_path) as data:
                        self._cache = dict(zip(data["keys"].tolist(), data["features"]))
                except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
                    warnings.warn(f"feature cache {self.cache_path} is unreadable ({err}); recomputing features")
        return self._cache

    def _save_cache(self) -> None:
        """Write to a temporary file and rename, so a crash mid-write never leaves a half cache behind."""
        with atomic_file(self.cache_path) as file:
            np.savez(file, keys=np.array(list(self._cache), dtype=str), features=np.stack(list(self._cache.values())))


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """sha1 of a model state's names and values, naming one set of weights."""
    digest = hashlib.sha1()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _renamed(problem: ImageProblem, path: Path) -> ImageProblem:
    """Same bytes fail the same way, so a copy of a bad photo gets the original's problem under its own name."""
    if problem.path == str(path):
        return problem
    return ImageProblem(str(path), problem.reason.replace(Path(problem.path).name, path.name, 1))
