"""The kernel-cache guard (pkpd/solvers/kernel_cache.py): numba only checks the file that defines a
kernel, so an edit of a file whose helpers a kernel inlines must drop the caches itself."""
import ast
import importlib
import os
import pkgutil
import types
from pathlib import Path

from numba.core.caching import UserProvidedCacheLocator
from numba.core.dispatcher import Dispatcher

import pkpd
from pkpd.solvers import kernel_cache


def _tree(tmp_path):
    src = tmp_path / "solvers"
    (src / "__pycache__").mkdir(parents=True)
    (src / "batched.py").write_text("# kernel\n")
    (src / "lane_metrics.py").write_text("# inlined helper\n")
    cached = [src / "__pycache__" / n for n in ("batched._blocks-86.py311.nbi", "batched._blocks-86.py311.1.nbc")]
    for f in cached:
        f.write_text("compiled")
    other = src / "__pycache__" / "batched.cpython-311.pyc"
    other.write_text("bytecode")
    return src, cached, other


class _Home:
    """numba's AppDirs with the user-wide cache folder under a test folder."""
    root = None

    def __init__(self, appname, appauthor):
        self.user_cache_dir = str(self.root)


def _isolated(monkeypatch, tmp_path, cache_dir=""):
    monkeypatch.setattr(kernel_cache.numba.config, "CACHE_DIR", cache_dir)
    monkeypatch.setattr(_Home, "root", tmp_path / "home-cache")
    monkeypatch.setattr(kernel_cache, "AppDirs", _Home)


def test_an_edit_of_any_kernel_source_drops_the_cached_kernels(tmp_path, monkeypatch):
    _isolated(monkeypatch, tmp_path)
    src, cached, other = _tree(tmp_path)
    assert kernel_cache.refresh([src])  # no stamp yet: caches of unknown origin are dropped
    assert not any(f.exists() for f in cached) and other.exists()
    for f in cached:  # recompiled from these sources
        f.write_text("compiled")
    assert not kernel_cache.refresh([src])  # unchanged sources: kept
    helper = src / "lane_metrics.py"
    st = helper.stat()
    os.utime(helper, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))  # touched, same contents (as numba)
    assert not kernel_cache.refresh([src])
    assert all(f.exists() for f in cached)
    helper.write_text("# inlined helper, edited\n")  # a git pull, a branch switch
    assert kernel_cache.refresh([src])
    assert not any(f.exists() for f in cached) and other.exists()
    assert not kernel_cache.refresh([src])
    assert not (tmp_path / "home-cache").exists()  # the user-wide folder is not created needlessly


def test_numba_cache_dir_is_stamped_before_numba_writes_there(tmp_path, monkeypatch):
    """With NUMBA_CACHE_DIR, the caches live in numba's mirror folder; it is created and stamped
    at once, so the caches numba then writes survive the next start."""
    src, _, _ = _tree(tmp_path)
    _isolated(monkeypatch, tmp_path, str(tmp_path / "nc"))
    mirror = kernel_cache.cache_dirs(src)[2]
    assert mirror == tmp_path / "nc" / UserProvidedCacheLocator.get_suitable_cache_subpath(str(src / "batched.py"))
    assert not mirror.exists()
    kernel_cache.refresh([src])
    (mirror / "batched._blocks-86.py311.nbi").write_text("compiled")
    assert not kernel_cache.refresh([src])
    assert (mirror / "batched._blocks-86.py311.nbi").exists()


def test_the_folders_numba_uses_behind_a_symbolic_link(tmp_path, monkeypatch):
    """numba hashes the module's path as imported (symbolic links kept): the folders stamped and
    cleaned must be the ones it writes, or their stale kernels would never be dropped."""
    src, _, _ = _tree(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(tmp_path, target_is_directory=True)
    _isolated(monkeypatch, tmp_path, str(tmp_path / "nc"))
    monkeypatch.setattr(kernel_cache, "__file__", str(link / "solvers" / "kernel_cache.py"))
    monkeypatch.setattr(kernel_cache, "KERNEL_DIRS", ("solvers",))
    seen = tmp_path / "nc" / UserProvidedCacheLocator.get_suitable_cache_subpath(str(link / "solvers" / "batched.py"))
    real = tmp_path / "nc" / UserProvidedCacheLocator.get_suitable_cache_subpath(str(src / "batched.py"))
    assert seen != real
    kernel_cache.refresh()
    assert (seen / kernel_cache.STAMP).exists() and not real.exists()


def test_a_read_only_install_uses_the_user_wide_folder(tmp_path, monkeypatch):
    """Where ``__pycache__`` cannot be written numba caches under the user's cache folder: that one
    is stamped and cleaned (an upgrade of an inlined helper alone would otherwise be missed)."""
    src, _, _ = _tree(tmp_path)
    _isolated(monkeypatch, tmp_path)
    user_wide = kernel_cache.cache_dirs(src)[1]
    assert user_wide.parent == tmp_path / "home-cache"
    for f in (src / "__pycache__").iterdir():
        f.unlink()
    (src / "__pycache__").rmdir()
    (src / "__pycache__").write_text("")  # not a folder: cannot be written, even by root
    kernel_cache.refresh([src])
    assert (user_wide / kernel_cache.STAMP).exists()
    (user_wide / "batched._blocks-86.py311.nbi").write_text("compiled")
    assert not kernel_cache.refresh([src])
    (src / "lane_metrics.py").write_text("# upgraded helper\n")
    assert kernel_cache.refresh([src])
    assert not (user_wide / "batched._blocks-86.py311.nbi").exists()


def test_every_kernel_and_every_constant_it_freezes_in_comes_from_the_kernel_folders():
    """The guard watches :data:`KERNEL_DIRS` only: a numba kernel defined elsewhere, or one taking a
    global from a pkpd module elsewhere, could keep stale code in its cache."""
    folders = tuple(f"pkpd.{d}." for d in kernel_cache.KERNEL_DIRS)
    kernels = 0
    for info in pkgutil.walk_packages(pkpd.__path__, "pkpd."):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        imported = {}
        for node in ast.parse(Path(mod.__file__).read_text()).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pkpd"):
                imported.update({a.asname or a.name: node.module + "." for a in node.names})
            elif isinstance(node, ast.Import):
                imported.update({a.asname or a.name: a.name + "." for a in node.names if a.name.startswith("pkpd")})
        for obj in vars(mod).values():
            if not (isinstance(obj, Dispatcher) and obj.__module__ == info.name):
                continue
            kernels += 1
            assert info.name.startswith(folders), info.name
            code = obj.py_func.__code__
            names = set(code.co_names).union(*(c.co_names for c in code.co_consts if isinstance(c, types.CodeType)))
            for n in names & imported.keys():
                assert imported[n].startswith(folders), (info.name, obj.__name__, n, imported[n])
    assert kernels > 20
