"""Checkers of notebook 09 (evaluation): each accepts the reference solution and rejects a plausible
mistake with a message that says what is wrong."""
import numpy as np
import pytest
import scipy.linalg

from minilatte.checks.evaluation import check_frechet_distance, check_mmd2_unbiased


# ---------------------------------------------------------------- Fréchet distance from statistics
def fd_from_stats(mu1, sigma1, mu2, sigma2, root=True, two=2.0, squared=True):
    mean_term = ((mu1 - mu2) ** 2).sum() if squared else np.linalg.norm(mu1 - mu2)
    cross = np.trace(scipy.linalg.sqrtm(sigma1 @ sigma2)).real if root else np.trace(sigma1 @ sigma2)
    return mean_term + np.trace(sigma1) + np.trace(sigma2) - two * cross


def test_frechet_checker_accepts_the_scipy_solution(capsys):
    check_frechet_distance(fd_from_stats)
    assert "✓ frechet_distance" in capsys.readouterr().out


def test_frechet_checker_names_a_missing_matrix_square_root():
    with pytest.raises(AssertionError, match="without the matrix square root"):
        check_frechet_distance(lambda *a: fd_from_stats(*a, root=False))


def test_frechet_checker_names_a_missing_factor_two():
    with pytest.raises(AssertionError, match="factor 2 of the cross term is missing"):
        check_frechet_distance(lambda *a: fd_from_stats(*a, two=1.0))


def test_frechet_checker_names_an_unsquared_mean_distance():
    with pytest.raises(AssertionError, match="not its square"):
        check_frechet_distance(lambda *a: fd_from_stats(*a, squared=False))


def test_frechet_checker_rejects_an_array_result():
    with pytest.raises(AssertionError, match="expected one number"):
        check_frechet_distance(lambda mu1, s1, mu2, s2: mu1 - mu2)


# ---------------------------------------------------------------- unbiased MMD²
def mmd2(x, y, biased=False):
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if biased:
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    n, m = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean())


def test_mmd2_checker_accepts_the_reference(capsys):
    check_mmd2_unbiased(mmd2)
    assert "✓ mmd2_unbiased" in capsys.readouterr().out


def test_mmd2_checker_names_the_biased_estimator():
    with pytest.raises(AssertionError, match="biased estimate"):
        check_mmd2_unbiased(lambda x, y: mmd2(x, y, biased=True))


def test_mmd2_checker_names_a_kernel_without_the_feature_scaling():
    def unscaled(x, y):
        return mmd2(x * np.sqrt(x.shape[1]), y * np.sqrt(y.shape[1]))
    with pytest.raises(AssertionError, match="scale the dot product by the feature size D"):
        check_mmd2_unbiased(unscaled)


def test_mmd2_checker_passes_on_an_unsolved_exercise():
    def unsolved(x, y):
        raise NotImplementedError("Exercise: unbiased MMD²")
    with pytest.raises(NotImplementedError):
        check_mmd2_unbiased(unsolved)
