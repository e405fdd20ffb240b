"""Small data files in the real formats (MNIST IDX, CIFAR-10 python pickles, image folders) for tests."""

import gzip
import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def idx_images(images: np.ndarray) -> bytes:
    """uint8 (N, rows, cols) -> the bytes of an IDX3 file, as MNIST distributes them."""
    count, rows, cols = images.shape
    header = bytes([0, 0, 0x08, 3]) + b"".join(n.to_bytes(4, "big") for n in (count, rows, cols))
    return header + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, 1]) + len(labels).to_bytes(4, "big") + labels.astype(np.uint8).tobytes()


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 40, n_test: int = 10, gz: bool = True) -> np.ndarray:
    """Writes <root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; returns the train images."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    for prefix, images in (("train", train), ("t10k", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))):
        files = {
            f"{prefix}-images-idx3-ubyte": idx_images(images),
            f"{prefix}-labels-idx1-ubyte": idx_labels(rng.integers(0, 10, len(images))),
        }
        for name, payload in files.items():
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(payload))
            else:
                (raw / name).write_bytes(payload)
    return train


def write_cifar10(root: Path, per_batch: int = 6) -> np.ndarray:
    """Writes <root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} as protocol-2 pickles of
    dicts, like the distributed files; returns all training rows (N, 3072): R, G, B planes of 32x32."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    train_rows = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        entry = {
            "batch_label": f"{name} of 6",
            "labels": rng.integers(0, 10, per_batch).tolist(),
            "data": data,
            "filenames": [f"img_{i}.png" for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        if name != "test_batch":
            train_rows.append(data)
    meta = {"label_names": ["airplane"] * 10, "num_cases_per_batch": per_batch, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return np.concatenate(train_rows)


def write_image_folder(root: Path, n_rgb: int = 6, size: tuple[int, int] = (40, 30)) -> dict[str, Path]:
    """A nested folder of RGB PNGs and JPEGs, one grayscale PNG, one GIF, one corrupt '.png', one text file."""
    rng = np.random.default_rng(2)
    (root / "nested" / "deeper").mkdir(parents=True)
    paths: dict[str, Path] = {}
    for i in range(n_rgb):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        suffix = ".png" if i % 2 == 0 else ".JPG"
        path = root / ("nested" if i % 3 == 0 else ".") / f"rgb_{i}{suffix}"
        Image.fromarray(pixels).save(path, format="PNG" if suffix == ".png" else "JPEG")
        paths[f"rgb_{i}"] = path
    paths["gray"] = root / "nested" / "deeper" / "gray.png"
    Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8), mode="L").save(paths["gray"])
    paths["gif"] = root / "anim.gif"
    frames = [Image.fromarray(np.full((20, 20), v, dtype=np.uint8), mode="L") for v in (10, 200)]
    frames[0].save(paths["gif"], save_all=True, append_images=frames[1:])
    paths["corrupt"] = root / "nested" / "broken.png"
    paths["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (root / "notes.txt").write_text("not an image, and not named like one")
    return paths


def write_many_images(root: Path, n: int, size: int = 32) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"img_{i:04d}.png")


def write_photo_folder(root: Path, n: int = 240, size: int = 32, seed: int = 0) -> Path:
    """A folder of n >= 200 real photographs as PNGs (faces/ and photos/ sub-folders), from bundled images."""
    if n < 200:
        raise ValueError(f"n={n}: a photo folder needs at least 200 images")
    from ganforge.lab.labelfree_check import photo_images

    images, faces = photo_images(n, size, seed)
    for i, image in enumerate(images):
        folder = root / ("faces" if i < faces else "photos")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    return root
