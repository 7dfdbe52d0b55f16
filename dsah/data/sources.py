"""Where each dataset comes from, and turning what the user has into a folder the loaders read.

`data.root` may be an extracted folder, a folder holding the official files (archives and `.mat`
lists, as `python -m dsah.cli.data download` leaves them), or one archive. Official files are checked
against their published size and md5/sha256 and extracted (tar with the "data" filter, zip with path
checks) into `extracted/` beside them, through a temporary folder: a failure extracts nothing. A
second run reuses `extracted/` when the files' checksums are unchanged. Nothing here downloads
except `download`, which only the command `python -m dsah.cli.data download` calls.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dsah.data import cifar, cub, dogs, flowers, folder, nuswide
from dsah.data.records import DatasetError, Records
from dsah.io import atomic_dir, atomic_path

EXTRACTED = "extracted"
MARKER = ".dsah-source.json"


@dataclass(frozen=True)
class Remote:
    filename: str
    url: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    required: bool = True

    def describe(self) -> str:
        sums = ", ".join(f"{k} {v}" for k, v in (("md5", self.md5), ("sha256", self.sha256)) if v)
        size = f"{self.size:,} bytes, " if self.size else ""
        return f"{self.url} ({size}{sums or 'no published checksum'})"


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    files: tuple[Remote, ...]
    load: Callable  # (root, DataParams) -> Records
    find: Callable  # root -> extracted folder, or raises DatasetError
    note: str = ""


def _cub(root, d):
    return cub.load(root)


def _flowers17(root, d):
    return flowers.load_17(root, d.flowers17_split)


def _cifar(root, d):
    return cifar.load(root, d.protocol or "dpsh", d.query_per_class, d.train_per_class, d.split_seed)


def _folder(root, d):
    return folder.load(root, d.test_share, d.split_seed)


_FLOWERS102 = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
_DOGS = "http://vision.stanford.edu/aditya86/ImageNetDogs/"
SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("cub200", "CUB-200-2011", (
        Remote("CUB_200_2011.tgz", "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
               1_150_585_339, "97eceeb196236b17998738112f37df78",
               "0c685df5597a8b24909f6a7c9db6d11e008733779a671760afef78feb49bf081"),), _cub, cub.find_root),
    Source("stanford_dogs", "Stanford Dogs", (
        Remote("images.tar", _DOGS + "images.tar", 793_579_520,
               sha256="a443fc2f9a851aa1a7b8e4fa4af94b8459fce2c9f5a2f4dd4669cf9673a4ec58"),
        Remote("lists.tar", _DOGS + "lists.tar", 481_280,
               sha256="34b47cacd9a98b5d150e084f24d29391c084c55272295ec65c85651bc35f4d6c"),
        Remote("annotation.tar", _DOGS + "annotation.tar", 21_852_160,
               sha256="662ed36f707be6b195c2fda392d8e153e83af28cedc8e2134a649f198def30fd", required=False),
    ), lambda root, d: dogs.load(root), dogs.find_root),
    Source("flowers102", "Oxford Flowers-102", (
        Remote("102flowers.tgz", _FLOWERS102 + "102flowers.tgz", 344_862_509, "52808999861908f626f3c1f4e79d11fa",
               "2d01ecc807db462958cfe3d92f57a8c252b4abd240eb955770201e45f783b246"),
        Remote("imagelabels.mat", _FLOWERS102 + "imagelabels.mat", 502, "e0620be6f572b9609742df49c70aed4d",
               "4903e94206bac23bf772aadf06451916df56b58fc483a62db32a97b82656651d"),
        Remote("setid.mat", _FLOWERS102 + "setid.mat", 14_989, "a5357ecc9cb78c4bef273ce3793fc85c",
               "46b8678f91fd95d3c8f4feab80d271a6c834a1dd896fe29fd3e6ad9ce5c8dccd"),
    ), lambda root, d: flowers.load_102(root), lambda root: flowers._find(root, "imagelabels.mat", "extract 102flowers.tgz beside imagelabels.mat and setid.mat")),
    Source("flowers17", "Oxford Flowers-17", (
        Remote("17flowers.tgz", "http://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz", None,
               "b59a65d8d1a99cd66944d474e1289eab",
               "fe38a60f8b4a95e657551247d3e7d799a3fafcdbc595be504b12839967823d70"),
        Remote("datasplits.mat", "http://www.robots.ox.ac.uk/~vgg/data/flowers/17/datasplits.mat", None,
               "4828cddfd0d803c5abbdebcb1e148a1e"),
    ), _flowers17, lambda root: flowers._find(root, "datasplits.mat", "extract 17flowers.tgz beside datasplits.mat")),
    Source("cifar10", "CIFAR-10", (
        Remote("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", 170_498_071,
               "c58f30108f718f92721af3b95e74349a"),), _cifar, cifar.find_root),
    Source("nuswide21", "NUS-WIDE (21 concepts)", (), lambda root, d: nuswide.load(root), nuswide.find_root,
           note="NUS-WIDE's images are not published as an archive: get the community image tarball (see "
                "TreezzZ/DSDH_PyTorch or swuxyj/DeepHash-pytorch) and DeepHash-pytorch's data/nuswide_21 "
                "train.txt / test.txt / database.txt, and put the lists with an images/ folder at the path."),
    Source("folder", "an image folder", (), _folder, lambda root: root,
           note="Put one subfolder of images per class there (optionally inside train/ and test/)."),
)}


def file_sums(path: Path) -> dict[str, str]:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def verify(path: Path, remote: Remote) -> dict[str, str]:
    """Size and published checksums of an official file; DatasetError on any difference."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise DatasetError(f"{path}: {size:,} bytes, but the official {remote.filename} has {remote.size:,}: the "
                           f"file is truncated or another version; delete it and download {remote.url} again")
    sums = file_sums(path)
    for kind in ("md5", "sha256"):
        want = getattr(remote, kind)
        if want and sums[kind] != want:
            raise DatasetError(f"{path}: {kind} {sums[kind]}, but the official {remote.filename} has {want}: the "
                               f"file is corrupt or another version; delete it and download {remote.url} again")
    return sums


def extract(archive: Path, dest: Path) -> None:
    """Unpack a tar (any compression) or zip archive into `dest`; DatasetError when it is truncated or corrupt."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    if Path(name).is_absolute() or ".." in Path(name).parts:
                        raise DatasetError(f"{archive}: member {name!r} would be written outside {dest}")
                z.extractall(dest)
        else:
            with tarfile.open(archive, mode="r:*") as t:
                t.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise DatasetError(f"{archive}: truncated or corrupt archive ({type(err).__name__}: {err}); nothing was "
                           "extracted; delete it and download it again") from None


def missing_message(source: Source, where: Path) -> str:
    if not source.files:
        return f"{source.title}: no data at {where}. {source.note}"
    need = "; ".join(f"{r.filename}: {r.describe()}" for r in source.files if r.required)
    return (f"{source.title}: no data at {where}. Download {need} — and put the file(s) in {where} (or extract "
            f"them there), or run `python -m dsah.cli.data download {source.name}` on a machine that reaches the URL.")


def materialize(source: Source, root: Path) -> Path:
    """The extracted folder for `root` (see the module docstring); checks and extracts official files."""
    root = Path(root).expanduser()
    if root.is_file():
        files_dir, only = root.parent, {root.name}
    elif root.is_dir():
        try:
            return source.find(root)
        except DatasetError:
            pass
        files_dir, only = root, None
    else:
        raise DatasetError(missing_message(source, root))
    present = [r for r in source.files if (files_dir / r.filename).is_file() and (only is None or r.filename in only)]
    if only is not None and not present:
        known = ", ".join(r.filename for r in source.files) or "none"
        raise DatasetError(f"{root}: not an official {source.title} file (those are: {known})")
    absent = [r for r in source.files if r.required and r not in present]
    if only is None and (not present or absent):
        if (files_dir / EXTRACTED).is_dir() and not present:
            return source.find(files_dir / EXTRACTED)
        raise DatasetError(missing_message(source, files_dir))
    target = files_dir / EXTRACTED
    marker = target / MARKER
    sums = {r.filename: file_sums(files_dir / r.filename) for r in present}
    if marker.is_file() and json.loads(marker.read_text()) == sums:
        return source.find(target)
    for r in present:
        verify(files_dir / r.filename, r)
    with atomic_dir(target) as tmp:
        for r in present:
            path = files_dir / r.filename
            if tarfile.is_tarfile(path) or zipfile.is_zipfile(path):
                extract(path, tmp)
            elif r.filename.endswith((".tgz", ".tar", ".gz", ".zip")):
                raise DatasetError(f"{path}: truncated or corrupt archive (not a readable tar or zip); nothing "
                                   "was extracted; delete it and download it again")
            else:
                shutil.copy2(path, tmp / r.filename)
        (tmp / MARKER).write_text(json.dumps(sums, indent=1, sort_keys=True))
    return source.find(target)


def load(name: str, root: str | Path, params) -> Records:
    """Records of dataset `name` from `root` (folder, official files or archive), with `params` = DataParams."""
    if name not in SOURCES:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(SOURCES)}")
    source = SOURCES[name]
    return source.load(materialize(source, Path(root)), params)


def download(name: str, dest: str | Path, url: str | None = None, md5: str | None = None,
             sha256: str | None = None, log=print) -> Path:
    """Fetch the official files of `name` (or one file from `url`, e.g. a mirror or file://), check them,
    and extract them under `dest/<name>/`. Returns the extracted folder."""
    source = SOURCES[name]
    if not source.files:
        raise DatasetError(f"{source.title} has no official download. {source.note}")
    folder_ = Path(dest) / name
    wanted = list(source.files)
    if url is not None:
        fname = Path(urllib.request.url2pathname(url.split("?")[0])).name
        known = next((r for r in source.files if r.filename == fname), None)
        if known is None and not (md5 or sha256):
            raise DatasetError(f"{url}: {fname} is not an official {source.title} file; give --md5 or --sha256")
        base = known or Remote(fname, url)
        wanted = [Remote(base.filename, url, base.size if not (md5 or sha256) else None,
                         md5 or (None if sha256 else base.md5), sha256 or (None if md5 else base.sha256))]
    for r in wanted:
        path = folder_ / r.filename
        log(f"fetching {r.url} -> {path}")
        with atomic_path(path) as tmp:
            try:
                with urllib.request.urlopen(r.url) as resp, open(tmp, "wb") as out:
                    shutil.copyfileobj(resp, out, 1 << 20)
            except OSError as err:
                raise DatasetError(f"{r.url}: download failed ({err}); {missing_message(source, folder_)}") from None
            verify(tmp, Remote(r.filename, r.url, r.size, r.md5, r.sha256))
        log(f"verified {path}")
    if url is not None:  # a mirror's checksum was given on the command line: extract just that file
        target = folder_ / EXTRACTED
        with atomic_dir(target) as tmp:
            extract(folder_ / wanted[0].filename, tmp)
        return target
    return materialize(source, folder_)
