"""The kernel-cache guard (pkpd/solvers/kernel_cache.py): numba only checks the file that defines a
kernel, so an edit of a file whose helpers a kernel inlines must drop the caches itself."""
import os

from numba.core.caching import UserProvidedCacheLocator

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


def test_an_edit_of_any_kernel_source_drops_the_cached_kernels(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_cache.numba.config, "CACHE_DIR", "")
    src, cached, other = _tree(tmp_path)
    assert kernel_cache.refresh([src])  # no stamp yet: caches of unknown origin are dropped
    assert not any(f.exists() for f in cached) and other.exists()
    for f in cached:  # recompiled from these sources
        f.write_text("compiled")
    assert not kernel_cache.refresh([src])  # unchanged sources: kept
    assert all(f.exists() for f in cached)
    helper = src / "lane_metrics.py"
    st = helper.stat()
    os.utime(helper, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))  # edited (git pull, branch switch)
    assert kernel_cache.refresh([src])
    assert not any(f.exists() for f in cached) and other.exists()
    assert not kernel_cache.refresh([src])


def test_numba_cache_dir_is_stamped_before_numba_writes_there(tmp_path, monkeypatch):
    """With NUMBA_CACHE_DIR, the caches live in numba's mirror folder; it is created and stamped
    at once, so the caches numba then writes survive the next start."""
    src, _, _ = _tree(tmp_path)
    monkeypatch.setattr(kernel_cache.numba.config, "CACHE_DIR", str(tmp_path / "nc"))
    mirror = kernel_cache.cache_dirs(src)[1]
    assert mirror == tmp_path / "nc" / UserProvidedCacheLocator.get_suitable_cache_subpath(str(src / "batched.py"))
    assert not mirror.exists()
    kernel_cache.refresh([src])
    (mirror / "batched._blocks-86.py311.nbi").write_text("compiled")
    assert not kernel_cache.refresh([src])
    assert (mirror / "batched._blocks-86.py311.nbi").exists()
