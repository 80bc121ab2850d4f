"""The numba backend's vectorizable math: bit casts, log, exp, ldexp, maxnum and casts.

libm's ``math.log`` and ``math.exp`` are scalar calls, so a loop calling them does not
vectorize (numba's documented alternative, SVML, is not loaded here). ``_log`` and ``_exp``
are fdlibm's algorithms (range reduction plus polynomial, < 1 ulp) on raw float bits, and
``_logf`` and ``_expf`` musl's and Cephes' float32 ones: a loop calling them vectorizes. They
carry fastmath's ``contract`` flag alone: each multiply-add becomes one fused instruction, one
rounding fewer (measured 20% off a 1e7 float64 entropy), and inf and nan are untouched.

The bit casts, ``_ldexp``, ``_fmax`` and ``_cast_like`` are single LLVM instructions or
intrinsics, written with numba's public extension API (:func:`numba.extending.intrinsic`).
The functions are compiled as helpers of the task runtime
(:func:`kernbench.backends._numba_runtime.linked`), whichever runtime is in use.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from kernbench.backends._numba_runtime import OPTS, by_precision
from kernbench.backends._numba_runtime import linked as _linked

#: log and exp: fused multiply-adds (one rounding fewer each), nothing else.
_EXP_LOG_OPTS = dict(OPTS, fastmath={"contract"})

_NAN = math.nan
_INF = math.inf


# ---------------------------------------------------------------------------- bit casts

@intrinsic
def _f64_bits(typingctx, x):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _bits_f64(typingctx, i):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _f32_bits(typingctx, x):
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def _bits_f32(typingctx, i):
    """The float32 whose bits are the low 32 bits of the integer ``i``."""
    sig = types.float32(i)

    def codegen(context, builder, signature, args):
        v = args[0]
        if v.type.width != 32:
            v = builder.trunc(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return sig, codegen


@intrinsic
def _ldexp(typingctx, y, k):
    """y * 2**k (k an int32) in one rounding: LLVM's ``ldexp``, exact for subnormal results and
    overflow alike, and vectorizable (AVX-512's ``vscalef``; integer operations on AVX2)."""
    sig = y(y, types.int32)

    def codegen(context, builder, signature, args):
        fty = context.get_value_type(signature.return_type)
        fnty = ir.FunctionType(fty, [fty, ir.IntType(32)])
        fn = builder.module.declare_intrinsic("llvm.ldexp", [fty, ir.IntType(32)], fnty)
        return builder.call(fn, args)

    return sig, codegen


# ---------------------------------------------------------------------------- log and exp

_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_MIN_NORMAL = 2.2250738585072014e-308
_F32_HALF = np.float32(0.5)
_F32_ONE = np.float32(1.0)
_F32_TWO = np.float32(2.0)


@_linked(**_EXP_LOG_OPTS)
def _log(x):
    """Natural log of a float64 (fdlibm ``__ieee754_log``), branch-free so that loops vectorize.

    log(0) = -inf, log(inf) = inf, log(x < 0) = log(nan) = nan; subnormals are exact.
    """
    # A subnormal x is (its bits) * 2**-1074 exactly. Scaling by a float power of two instead
    # would be a multiply that LLVM computes for every x, raising a spurious overflow flag
    # (numpy warns) for large x; int-to-float raises nothing worse than inexact.
    bits = _f64_bits(x)
    sub = x < _MIN_NORMAL
    xs = float(bits) if sub else x
    ix = _f64_bits(xs) + (0x95F62 << 32)  # move [sqrt(2)/2, sqrt(2)) onto one exponent
    k = (ix >> 52) - 1023
    if sub:
        k -= 1074
    ix = (ix & 0x000FFFFFFFFFFFFF) + (0x3FE6A09E << 32)
    f = _bits_f64(ix) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    dk = float(k)
    r = s * (hfsq + t2 + t1) + dk * _LN2_LO - hfsq + f + dk * _LN2_HI
    if x == 0.0:
        r = -_INF
    if x == _INF:
        r = _INF
    if not x >= 0.0:  # negative or nan
        r = _NAN
    return r


#: FreeBSD/musl ``logf``: ln 2 in two parts and the polynomial of (log(1+s) - log(1-s)) / s
#: (|error| < 2**-34.24) in float32.
_LG1_F = np.float32(0.66666662693)
_LG2_F = np.float32(0.40000972152)
_LG3_F = np.float32(0.28498786688)
_LG4_F = np.float32(0.24279078841)
_LN2_HI_F = np.float32(6.9313812256e-01)
_LN2_LO_F = np.float32(9.0580006145e-06)
_MIN_NORMAL_F = np.float32(1.17549435e-38)


@_linked(**_EXP_LOG_OPTS)
def _logf(x):
    """Natural log of a float32 in float32 arithmetic (musl ``logf``, the same steps as
    :func:`_log`): sixteen lanes per AVX-512 vector where the float64 log has eight. At most
    0.79 ulp measured; log(0) = -inf, log(inf) = inf, log(x < 0) = log(nan) = nan."""
    bits = _f32_bits(x)
    sub = x < _MIN_NORMAL_F
    xs = np.float32(bits) if sub else x  # a subnormal x is (its bits) * 2**-149 exactly
    ix = _f32_bits(xs) + np.int32(0x3F800000 - 0x3F3504F3)
    k = (ix >> 23) - 0x7F
    if sub:
        k -= 149
    ix = (ix & 0x007FFFFF) + 0x3F3504F3
    f = _bits_f32(ix) - _F32_ONE
    s = f / (_F32_TWO + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2_F + w * _LG4_F)
    t2 = z * (_LG1_F + w * _LG3_F)
    hfsq = _F32_HALF * f * f
    dk = np.float32(k)
    r = s * (hfsq + t2 + t1) + dk * _LN2_LO_F - hfsq + f + dk * _LN2_HI_F
    if x == 0.0:
        r = np.float32(-_INF)
    if x == _INF:
        r = np.float32(_INF)
    if not x >= 0.0:  # negative or nan
        r = np.float32(_NAN)
    return r


@_linked(**_EXP_LOG_OPTS)
def _exp(x):
    """exp of a float64 (fdlibm ``__ieee754_exp``), branch-free so that loops vectorize.

    exp(-inf) = 0, exp(inf) = inf, exp(nan) = nan; results in the subnormal range are exact
    to one rounding (2**k is applied by :func:`_ldexp`).
    """
    # Clamping keeps k in range; -1100 and 710 already under/overflow. Written as compare and
    # select in the order of the x86 max/min instructions (one each), which map nan to the
    # bound; the nan comes back at the end.
    xc = x if x > -1100.0 else -1100.0
    xc = xc if xc < 710.0 else 710.0
    kf = np.floor(xc * _INV_LN2 + 0.5)
    hi = xc - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    rr = r * r
    c = r - rr * (_P1 + rr * (_P2 + rr * (_P3 + rr * (_P4 + rr * _P5))))
    y = _ldexp(1.0 + (r * c / (2.0 - c) - lo + hi), np.int32(kf))
    return y if x == x else x


#: Cephes ``expf``: ln 2 in two parts (the first exact in float32, so kf * _C1_F is exact for
#: |kf| < 2**15) and the minimax polynomial of (exp(r) - 1 - r) / r**2 on [-ln2/2, ln2/2].
_C1_F = np.float32(0.693359375)
_C2_F = np.float32(-2.12194440e-4)
_Q0_F = np.float32(1.9875691500e-4)
_Q1_F = np.float32(1.3981999507e-3)
_Q2_F = np.float32(8.3334519073e-3)
_Q3_F = np.float32(4.1665795894e-2)
_Q4_F = np.float32(1.6666665459e-1)
_Q5_F = np.float32(5.0000001201e-1)
_INV_LN2_F = np.float32(1.4426950216e+00)
_F32_LO = np.float32(-104.0)
_F32_HI = np.float32(89.0)


@_linked(**_EXP_LOG_OPTS)
def _expf(x):
    """exp of a float32 in float32 arithmetic (Cephes ``expf``: at most 1.01 ulp measured).

    Sixteen lanes per AVX-512 vector instead of eight: float32 softmax and cross-entropy
    spend most of their time here. A polynomial rather than fdlibm's rational form (no
    divide), with fastmath's ``contract`` flag alone, so that each multiply-add is one fused
    instruction, and 2**k applied by :func:`_ldexp`: 16.8 against 20.3 us for the sum of the
    exps of a 50257-logit row in L2, and 24 us for fdlibm's form. Contraction only removes
    roundings; inf and nan are untouched.
    """
    xc = x if x > _F32_LO else _F32_LO  # as in _exp: x86 max and min, nan restored below
    xc = xc if xc < _F32_HI else _F32_HI
    kf = np.floor(xc * _INV_LN2_F + _F32_HALF)
    r = xc - kf * _C1_F
    r = r - kf * _C2_F
    y = ((((_Q0_F * r + _Q1_F) * r + _Q2_F) * r + _Q3_F) * r + _Q4_F) * r + _Q5_F
    y = _ldexp(y * (r * r) + r + _F32_ONE, np.int32(kf))
    return y if x == x else x


_exp_native = by_precision(_expf, _exp, "exp in the precision of ``x``.")
_log_native = by_precision(_logf, _log, "log in the precision of ``x``.")


@intrinsic
def _cast_like(typingctx, a, v):
    """The float ``v`` in the precision of ``a``, an array (its dtype) or a float scalar:
    float32 gets float32 arithmetic."""
    to = types.float32 if getattr(a, "dtype", a) == types.float32 else types.float64
    sig = to(a, v)

    def codegen(context, builder, signature, args):
        return context.cast(builder, args[1], signature.args[1], to)

    return sig, codegen


# ---------------------------------------------------------------------------- maxnum

@intrinsic
def _fmax(typingctx, a, b):
    """LLVM's ``maxnum`` of two floats of one type: the larger, or the one that is not nan."""
    sig = a(a, b)

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(signature.return_type)
        fn = builder.module.declare_intrinsic("llvm.maxnum", [ty], ir.FunctionType(ty, [ty, ty]))
        return builder.call(fn, args)

    return sig, codegen
