"""Eigen-decompositions of many small matrices on every core, identical to :func:`numpy.linalg.eig`.

``np.linalg.eig`` on a stack of matrices holds the GIL and loops on one core; for a population
chunk (10-state systems, ~7 µs each) that is a large share of the run.  :func:`eig_stack` calls the
same LAPACK routine numpy calls — ``dgeev`` of the OpenBLAS library numpy itself is linked to,
with numpy's arguments (``jobvl = 'N'``, ``jobvr = 'V'``, the queried optimal workspace) — from
a nogil numba loop on every thread (:mod:`pkpd.solvers.threads`), so the results are bit-for-bit
numpy's (tested) and the matrices are spread over the cores.  Where numpy's LAPACK cannot be found (another numpy build), it is
``np.linalg.eig``.  The linear kernels go through :mod:`pkpd.solvers.block_eigen` first (no
LAPACK call for compartment matrices of symmetrisable blocks); this is their fallback, and the
hybrid and exponential kernels' path.
"""
from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as ll
import numpy as np
from numba import njit, types

from pkpd.solvers.threads import run_ranges


def _numpy_lapack() -> str | None:
    """Path of the OpenBLAS library numpy's linalg is linked to (numpy's wheels), or None."""
    pattern = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs", "libscipy_openblas64_*.so")
    for path in sorted(glob.glob(pattern)):
        try:
            if hasattr(ctypes.CDLL(path), _SYMBOL):
                return path
        except OSError:
            continue
    return None


_SYMBOL = "scipy_dgeev_64_"  # numpy's umath_linalg calls these very symbols (64-bit integers)
_SYMBOL_GESV = "scipy_dgesv_64_"
_LIB = _numpy_lapack()
#: Stacks of fewer matrices go to numpy itself (the same numbers, one core): the few subjects the
#: block eigen-decomposition refuses in a chunk (~0.2 %) are not worth the ~1.5 s the two kernels
#: below take to compile on an empty cache (issue 16's cold start).
SMALL_STACK = 64
if _LIB is not None:
    # resolved by name when a cached kernel is loaded, so the kernel can be cached (a ctypes
    # function could not); pointers are passed as integers (same calling convention on x86-64)
    ll.load_library_permanently(_LIB)
    _dgeev = types.ExternalFunction(_SYMBOL, types.void(*([types.intp] * 16)))
    _dgesv = types.ExternalFunction(_SYMBOL_GESV, types.void(*([types.intp] * 8)))

    @njit(cache=True, nogil=True)
    def _inv_rows(s0, s1, A, out, ok):
        """Inverses of matrices ``s0 … s1 − 1`` of ``A`` as numpy computes them: ``dgesv`` with
        the identity on the right (column-major copies in, the solution out)."""
        n = A.shape[1]
        for s in range(s0, s1):
            a = np.empty((n, n))
            b = np.zeros((n, n))
            for i in range(n):
                b[i, i] = 1.0
                for j in range(n):
                    a[j, i] = A[s, i, j]
            ipiv = np.empty(n, dtype=np.int64)
            ints = np.array([n, n, n, n, 0], dtype=np.int64)  # n, nrhs, lda, ldb, info
            ip = ints.ctypes.data
            _dgesv(ip, ip + 8, a.ctypes.data, ip + 16, ipiv.ctypes.data, b.ctypes.data, ip + 24, ip + 32)
            ok[s] = ints[4] == 0
            for i in range(n):
                for j in range(n):
                    out[s, i, j] = b[j, i]

    @njit(cache=True, nogil=True)
    def _eig_rows(s0, s1, K, wr, wi, V, ok):
        """``dgeev`` on matrices ``s0 … s1 − 1`` of ``K`` (S, n, n); real eigenvector matrices in
        ``V`` with numpy's convention for a complex pair (both columns hold the real part)."""
        n = K.shape[1]
        jobs = np.array([ord("N"), ord("V")], dtype=np.uint8)
        # buffers and the workspace query once per range: the optimal workspace depends on n
        # only, and numpy too queries it once per call on a stack of matrices
        a = np.empty((n, n))
        vr = np.empty((n, n))
        vl = np.empty(1)
        ints = np.array([n, n, 1, n, -1, 0], dtype=np.int64)  # n, lda, ldvl, ldvr, lwork, info
        w_r = np.empty(n)
        w_i = np.empty(n)
        query = np.empty(1)
        ip = ints.ctypes.data
        _dgeev(jobs.ctypes.data, jobs.ctypes.data + 1, ip, a.ctypes.data, ip + 8, w_r.ctypes.data,
               w_i.ctypes.data, vl.ctypes.data, ip + 16, vr.ctypes.data, ip + 24, query.ctypes.data, ip + 32,
               ip + 40, 1, 1)
        lwork = np.int64(query[0])  # the optimal workspace, as numpy asks for it
        work = np.empty(max(lwork, 1))
        for s in range(s0, s1):
            for i in range(n):
                for j in range(n):
                    a[j, i] = K[s, i, j]  # column-major copy
            ints[0] = n
            ints[1] = n
            ints[2] = 1
            ints[3] = n
            ints[4] = lwork
            ints[5] = 0
            _dgeev(jobs.ctypes.data, jobs.ctypes.data + 1, ip, a.ctypes.data, ip + 8, w_r.ctypes.data,
                   w_i.ctypes.data, vl.ctypes.data, ip + 16, vr.ctypes.data, ip + 24, work.ctypes.data, ip + 32,
                   ip + 40, 1, 1)
            ok[s] = ints[5] == 0
            k = 0
            while k < n:
                pair = w_i[k] != 0.0 and k + 1 < n
                for i in range(n):
                    V[s, i, k] = vr[k, i]  # column k of V (vr is column-major)
                    if pair:
                        V[s, i, k + 1] = vr[k, i]  # numpy: v ± i·w, real part v for both
                wr[s, k] = w_r[k]
                wi[s, k] = w_i[k]
                if pair:
                    wr[s, k + 1] = w_r[k + 1]
                    wi[s, k + 1] = w_i[k + 1]
                    k += 2
                else:
                    k += 1


def eig_stack(K: np.ndarray):
    """Eigenvalues and real eigenvector matrices of every matrix in ``K`` (S, n, n).

    Returns ``(lam, V)`` as :func:`numpy.linalg.eig` would give them after ``.real`` — plus the
    imaginary parts of the eigenvalues, ``(lam_real, lam_imag, V_real)``.
    """
    K = np.ascontiguousarray(K, dtype=np.float64)
    if _LIB is None or K.shape[0] < SMALL_STACK:
        lam, V = np.linalg.eig(K)
        return np.ascontiguousarray(lam.real), np.ascontiguousarray(lam.imag), np.ascontiguousarray(V.real)
    S, n = K.shape[0], K.shape[1]
    wr, wi, V = np.empty((S, n)), np.empty((S, n)), np.empty((S, n, n))
    ok = np.empty(S, dtype=np.bool_)
    if not np.isfinite(K).all():
        raise np.linalg.LinAlgError("Array must not contain infs or NaNs")
    run_ranges(_eig_rows, S, K, wr, wi, V, ok)
    if not ok.all():
        raise np.linalg.LinAlgError("Eigenvalues did not converge")
    return wr, wi, V


def inv_stack(A: np.ndarray) -> np.ndarray:
    """Inverses of every matrix in ``A`` (S, n, n), bit-for-bit :func:`numpy.linalg.inv`'s, on
    every core; raises ``LinAlgError`` for a singular one, as numpy does."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    if _LIB is None or A.shape[0] < SMALL_STACK:
        return np.linalg.inv(A)
    out = np.empty_like(A)
    ok = np.empty(A.shape[0], dtype=np.bool_)
    run_ranges(_inv_rows, A.shape[0], A, out, ok)
    if not ok.all():
        raise np.linalg.LinAlgError("Singular matrix")
    return out
