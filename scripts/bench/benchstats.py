"""Statistics shared by the benchmark scripts (standard library only): medians and a
distribution-free 95% confidence interval of a median, and the CPU's model name."""
import math


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def median(xs):
    s = sorted(xs)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def median_ci(xs, level=0.95):
    """(lo, hi): the order statistics x(j) and x(n+1-j) (1-based) that cover the median with
    probability >= level whatever the distribution: 1 - 2 P(B <= j-1) >= level for B ~
    binomial(n, 1/2), j as large as that allows. None below 6 values, where no pair reaches 95%
    (with 6: the smallest and largest, 96.9%; with 10: the 2nd smallest and largest, 97.9%)."""
    s = sorted(xs)
    n = len(s)
    cdf, j = 0.0, 0  # cdf = P(B <= j-1)
    while j < n:
        p = math.comb(n, j) / 2 ** n
        if cdf + p > (1 - level) / 2:
            break
        cdf += p
        j += 1
    if j == 0 or j - 1 >= n - j:
        return None
    return s[j - 1], s[n - j]
