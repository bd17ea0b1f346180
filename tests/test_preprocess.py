"""Preprocessing steps on generated pages whose true geometry, noise and contrast are known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocrforge.errors import ConfigError, InputError
from ocrforge.preprocess import (
    STEPS,
    AutoConfig,
    binarize,
    correct_perspective,
    denoise,
    deskew,
    estimate_noise,
    estimate_orientation,
    estimate_skew,
    find_page_quad,
    normalize_contrast,
    orient,
    preprocess_page,
)
from ocrforge.preprocess.orientation import quarter_matrix, rotate_quarter
from ocrforge.preprocess.pipeline import apply_homography
from ocrforge.preprocess.synth import (
    add_gaussian_noise,
    add_salt_pepper,
    photograph_page,
    reduce_contrast,
    render_page,
    rotate_page,
)


@pytest.fixture(scope="module")
def pages():
    return {script: render_page(seed=i, script=script).image for i, script in enumerate(("mixed", "latin", "cjk"))}


@pytest.fixture(scope="module")
def smooth_image():
    """Smooth, asymmetric content so bilinear resampling error is small and any mis-mapping is not."""
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(img, (400, 300), interpolation=cv2.INTER_CUBIC), (0, 0), 4)


def sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at float (x, y) points."""
    pts = points.astype(np.float32).reshape(1, -1, 2)
    return cv2.remap(image, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR).reshape(len(points), -1).astype(np.float64)


def assert_transform_maps_pixels(src: np.ndarray, result_image: np.ndarray, transform: np.ndarray, margin: int = 25):
    """out[p] must equal src[T(p)] for pixel centres p well inside both images.

    Integer p, because the warps sample the input at T(p) for exactly those points; comparing
    between pixels would add interpolation error at sharp text edges.
    """
    h, w = result_image.shape[:2]
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.integers(margin, w - margin, 400), rng.integers(margin, h - margin, 400)]).astype(float)
    back = apply_homography(transform, pts)
    sh, sw = src.shape[:2]
    inside = (back[:, 0] > margin) & (back[:, 0] < sw - margin) & (back[:, 1] > margin) & (back[:, 1] < sh - margin)
    assert inside.sum() > 100
    diff = np.abs(sample(result_image, pts[inside]) - sample(src, back[inside]))
    assert np.median(diff) < 2.0 and np.percentile(diff, 95) < 6.0


# --- deskew -----------------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [7.0, -12.0, 15.0, -0.8])
@pytest.mark.parametrize("script", ["mixed", "cjk"])
def test_skew_estimate_within_half_degree(pages, angle, script):
    est = estimate_skew(rotate_page(pages[script], angle))
    assert abs(est.angle - angle) < 0.5, est


def test_deskew_straightens_lines(pages):
    skewed = rotate_page(pages["latin"], 7.0)
    out = deskew(skewed)
    assert out.params["applied"] and abs(out.params["angle"] - 7.0) < 0.5
    assert abs(estimate_skew(out.image).angle) < 0.3
    assert_transform_maps_pixels(skewed, out.image, out.matrix)


def test_deskew_leaves_small_angles_alone(pages):
    out = deskew(pages["latin"], min_angle=0.3)
    assert out.image is pages["latin"] and np.array_equal(out.matrix, np.eye(3))


# --- perspective ------------------------------------------------------------------------------


def photographed(page: np.ndarray, seed: int = 0):
    rng = np.random.default_rng(seed)
    corners = np.array([[150, 120], [1050, 90], [1120, 1350], [100, 1400]], float) + rng.uniform(-50, 50, (4, 2))
    photo, H = photograph_page(page, corners, (1250, 1500), seed=seed)
    return photo, H, corners


def test_page_quad_found_to_subpixel(pages):
    photo, _, corners = photographed(pages["mixed"])
    quad = find_page_quad(photo)
    assert quad is not None
    assert np.abs(quad.corners - corners).max() < 2.0


def test_perspective_recovers_rectangle(pages):
    page = pages["mixed"]
    photo, H, corners = photographed(page, seed=3)
    out = correct_perspective(photo)
    assert out.params["found"]
    h, w = out.image.shape[:2]
    # The output rectangle's corners map back onto the true page corners.
    rect = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    assert np.abs(apply_homography(out.matrix, rect) - corners).max() < 2.0
    # Content: the rectified page matches the original page resampled to its size.
    ref = cv2.resize(page, (w, h), interpolation=cv2.INTER_AREA)
    diff = np.abs(cv2.cvtColor(out.image, cv2.COLOR_BGR2GRAY).astype(float) - cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY))
    assert diff[10:-10, 10:-10].mean() < 12.0
    # A point of the page maps through the photo's homography to where the transform says.
    page_pt = np.array([[400.0, 700.0]])
    out_pt = page_pt * [(w - 1) / (page.shape[1] - 1), (h - 1) / (page.shape[0] - 1)]
    assert np.abs(apply_homography(out.matrix, out_pt) - apply_homography(H, page_pt)).max() < 2.0


@pytest.mark.parametrize("script", ["mixed", "cjk"])
def test_a_hard_shadow_across_a_scan_is_not_a_page_outline(pages, script):
    """A shadow with a sharp edge splits a flat scan into a lit quadrilateral and a dark rest: bright
    inside, dark outside, big enough, convex. It cuts through the text, so it is not the page."""
    page = pages[script]
    h, w = page.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    lit = page.copy()
    shaded = xx < 0.3 * w + 0.6 * w * yy / h
    lit[shaded] = (lit[shaded] * 0.45).astype(np.uint8)
    assert find_page_quad(lit, max_ink_outside=1.0) is not None  # what the other cues alone accept
    assert find_page_quad(lit) is None
    assert "perspective" not in [n for n, _ in preprocess_page(lit).steps]
    # A photographed page keeps its outline: the desk around it holds no text.
    photo, _, corners = photographed(page, seed=3)
    assert np.abs(find_page_quad(photo).corners - corners).max() < 2.0


def test_flat_scan_has_no_page_quad(pages):
    assert find_page_quad(pages["latin"]) is None
    out = correct_perspective(pages["latin"])
    assert not out.params["found"] and np.array_equal(out.matrix, np.eye(3))


# --- orientation ------------------------------------------------------------------------------


@pytest.mark.parametrize("turned", [0, 90, 180, 270])
@pytest.mark.parametrize("script", ["mixed", "latin", "cjk"])
def test_orientation_detected(pages, turned, script):
    image = rotate_quarter(rotate_page(pages[script], 4.0), turned)  # a scan turned by `turned` CCW
    est = estimate_orientation(image)
    assert est.angle == (360 - turned) % 360, est.cues
    assert est.confidence > 0.5


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_quarter_matrix_maps_pixels(smooth_image, angle):
    out = rotate_quarter(smooth_image, angle)
    m = quarter_matrix(angle, smooth_image.shape[:2])
    h, w = out.shape[:2]
    ys, xs = np.mgrid[0:h:7, 0:w:7]
    pts = np.column_stack([xs.ravel(), ys.ravel()]).astype(float)
    src = np.rint(apply_homography(m, pts)).astype(int)
    assert np.array_equal(out[ys.ravel(), xs.ravel()], smooth_image[src[:, 1], src[:, 0]])


def test_orientation_hook_replaces_estimate(pages):
    calls = []

    def model(image):
        calls.append(image.shape)
        return 180, 0.97

    out = orient(pages["latin"], orientation_estimator=model)
    assert calls and out.rotation == 180 and out.params["applied"]
    result = preprocess_page(pages["latin"], "auto", orientation_estimator=model)
    assert result.rotation == 180
    unsure = preprocess_page(pages["latin"], "auto", orientation_estimator=lambda im: (90, 0.2))
    assert unsure.rotation == 0


# --- denoise ----------------------------------------------------------------------------------


def test_noise_estimate_tracks_noise(pages):
    clean = pages["latin"]
    levels = [estimate_noise(add_gaussian_noise(clean, s, seed=1)).sigma for s in (0, 5, 10, 20)]
    assert levels[0] < 0.5 and all(a < b for a, b in zip(levels, levels[1:]))
    assert estimate_noise(add_salt_pepper(clean, 0.02)).impulse_fraction > 0.002
    assert estimate_noise(clean).impulse_fraction < 0.0005


@pytest.mark.parametrize(
    "make_noisy, method",
    [
        (lambda im: add_gaussian_noise(im, 12, seed=2), "bilateral"),
        (lambda im: add_salt_pepper(im, 0.02, seed=2), "median"),
    ],
)
def test_denoise_raises_psnr(pages, make_noisy, method):
    clean = pages["mixed"]
    noisy = make_noisy(clean)
    out = denoise(noisy)  # auto: must pick the filter for this kind of noise
    assert out.params["method"] == method
    assert cv2.PSNR(out.image, clean) > cv2.PSNR(noisy, clean) + 2.0


def test_denoise_leaves_clean_image(pages):
    out = denoise(pages["latin"])
    assert out.params["method"] is None and out.image is pages["latin"]


# --- binarization and contrast ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["sauvola", "gaussian"])
def test_binarization_separates_faint_text(pages, method):
    clean = cv2.cvtColor(pages["mixed"], cv2.COLOR_BGR2GRAY)
    ink = clean < 100  # solid ink, not anti-aliased fringes
    paper = clean > 250
    faint = reduce_contrast(clean, 110, 160, shading=60)  # 50 grey levels of contrast, uneven light
    out = binarize(faint, method=method).image
    assert set(np.unique(out)) <= {0, 255}
    assert (out[ink] == 0).mean() > 0.9
    assert (out[paper] == 255).mean() > 0.99


def test_binarize_keeps_channel_layout(pages):
    assert binarize(pages["latin"]).image.shape == pages["latin"].shape


def test_contrast_normalisation_restores_range(pages):
    clean = pages["mixed"]
    gray = cv2.cvtColor(clean, cv2.COLOR_BGR2GRAY)
    faint = reduce_contrast(clean, 110, 160, shading=60)
    out = cv2.cvtColor(normalize_contrast(faint).image, cv2.COLOR_BGR2GRAY).astype(float)
    gap_before = cv2.cvtColor(faint, cv2.COLOR_BGR2GRAY)[gray > 250].mean() - cv2.cvtColor(faint, cv2.COLOR_BGR2GRAY)[gray < 100].mean()
    gap_after = out[gray > 250].mean() - out[gray < 100].mean()
    assert gap_after > 2.5 * gap_before
    assert out[gray > 250].std() < 8.0  # shading flattened: the paper is uniform


# --- auto mode and the public API -------------------------------------------------------------


@pytest.mark.parametrize("script", ["mixed", "cjk"])
def test_auto_leaves_clean_scan_unchanged(pages, script):
    result = preprocess_page(pages[script])
    assert result.steps == []
    assert np.array_equal(result.transform, np.eye(3)) and result.rotation == 0
    assert np.array_equal(result.image, pages[script])
    assert {"noise_sigma", "skew", "orientation", "text_contrast", "page_quad"} <= set(result.measurements)


def test_auto_fixes_turned_and_skewed_page(pages):
    page = pages["latin"]
    image = rotate_quarter(rotate_page(page, -6.0), 90)
    result = preprocess_page(image)
    names = [n for n, _ in result.steps]
    assert names == ["orientation", "deskew"], result.steps
    assert result.rotation == 270
    assert abs(estimate_skew(result.image).angle) < 0.3
    assert estimate_orientation(result.image).angle == 0
    assert_transform_maps_pixels(image, result.image, result.transform)


def test_auto_rectifies_photographed_page(pages):
    photo, _, corners = photographed(pages["mixed"], seed=5)
    result = preprocess_page(photo)
    assert [n for n, _ in result.steps] == ["perspective"]
    h, w = result.image.shape[:2]
    rect = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    assert np.abs(result.to_input(rect) - corners).max() < 2.0


def test_auto_denoises_and_normalises_faint_noisy_page(pages):
    image = add_gaussian_noise(reduce_contrast(pages["mixed"], 90, 170, shading=50), 8, seed=4)
    result = preprocess_page(image)
    names = [n for n, _ in result.steps]
    assert names[0] == "denoise" and "contrast" in names and "binarize" not in names
    very_faint = reduce_contrast(pages["mixed"], 120, 150)
    assert "binarize" in [n for n, _ in preprocess_page(very_faint).steps]
    assert "binarize" not in [n for n, _ in preprocess_page(very_faint, config=AutoConfig(binarize=False)).steps]


@pytest.mark.parametrize("script", ["mixed", "cjk"])
def test_auto_inverts_a_page_in_dark_mode(pages, script):
    """Light text on a dark ground comes out as the light page, not as a faint page binarized."""
    result = preprocess_page(255 - pages[script])
    assert [n for n, _ in result.steps] == ["invert"], result.steps
    assert np.array_equal(result.image, pages[script]) and np.array_equal(result.transform, np.eye(3))
    assert result.measurements["light_on_dark"] and result.measurements["dark_share"] > 0.5
    assert "invert" not in [n for n, _ in preprocess_page(255 - pages[script], config=AutoConfig(polarity=False)).steps]


def test_light_page_on_a_dark_table_is_not_inverted(pages):
    """A dark majority alone is not a dark page: the light class here is one big piece (the page)."""
    page = pages["mixed"]
    h, w = page.shape[:2]
    table = np.full((h + 200, 3 * w, 3), 30, np.uint8)
    table[100:100 + h, w:2 * w] = page
    result = preprocess_page(table, config=AutoConfig(perspective=False))
    assert result.measurements["dark_share"] > 0.5 and not result.measurements["light_on_dark"]
    assert "invert" not in [n for n, _ in result.steps]


@pytest.mark.parametrize("script", ["mixed", "cjk"])
def test_auto_enlarges_a_page_whose_text_is_too_small_for_the_detector(pages, script):
    page = pages[script]
    small = cv2.resize(page, (page.shape[1] // 3, page.shape[0] // 3), interpolation=cv2.INTER_AREA)
    result = preprocess_page(small)
    steps = dict(result.steps)
    assert list(steps) == ["upscale"], result.steps
    assert 1.25 <= steps["upscale"]["factor"] <= 1280 / max(small.shape[:2]) + 1e-3  # never past the detector's side
    assert result.measurements["text_height_px"] < 12
    # the outer edges of the pixel grids map onto each other (pixel centres sit at integers)
    (h, w), (big_h, big_w) = small.shape[:2], result.image.shape[:2]
    edges = result.to_input(np.array([[-0.5, -0.5], [big_w - 0.5, big_h - 0.5]]))
    np.testing.assert_allclose(edges, [[-0.5, -0.5], [w - 0.5, h - 0.5]], atol=1e-9)
    assert "upscale" not in dict(preprocess_page(small, config=AutoConfig(upscale=False)).steps)
    assert "upscale" not in dict(preprocess_page(page).steps)  # the same text at full size is left alone


def test_upscale_step_maps_back_and_refuses_bad_factors(smooth_image):
    result = preprocess_page(smooth_image, "upscale", upscale={"factor": 2.5})
    assert result.image.shape[:2] == (750, 1000)
    assert_transform_maps_pixels(smooth_image, result.image, result.transform)
    for bad in (1.0, 0.5, 5.0, "2"):
        with pytest.raises(ConfigError):
            preprocess_page(smooth_image, "upscale", upscale={"factor": bad})


def test_explicit_steps_compose_transform(smooth_image):
    result = preprocess_page(smooth_image, "orientation,deskew", orientation={"angle": 90}, deskew={"angle": 5.0})
    assert [n for n, _ in result.steps] == ["orientation", "deskew"] and result.rotation == 90
    assert_transform_maps_pixels(smooth_image, result.image, result.transform)
    back = result.to_output(result.to_input(np.array([[50.0, 60.0]])))
    assert np.allclose(back, [[50.0, 60.0]])


def test_mode_none_and_grey_input(pages):
    gray = cv2.cvtColor(pages["latin"], cv2.COLOR_BGR2GRAY)
    assert preprocess_page(gray, "none").image is gray
    assert preprocess_page(gray, "deskew,binarize").image.ndim == 2


def test_every_registered_step_runs_alone(pages):
    image = rotate_page(pages["mixed"], 3.0)
    for name in STEPS:
        result = preprocess_page(image, name)
        assert result.image.dtype == np.uint8 and result.transform.shape == (3, 3)
        assert [n for n, _ in result.steps] == [name]


@pytest.mark.parametrize(
    "call",
    [
        lambda im: preprocess_page(im, "deskew,sharpen"),
        lambda im: preprocess_page(im, "binarize", binarize={"method": "magic"}),
        lambda im: preprocess_page(im, "deskew", deskew={"angel": 3}),
        lambda im: preprocess_page(im, "auto", rotate={"angle": 90}),
    ],
)
def test_bad_settings_raise_config_error(pages, call):
    with pytest.raises(ConfigError):
        call(pages["latin"])


@pytest.mark.parametrize("bad", [None, np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10), np.float32), np.zeros((5, 5, 2), np.uint8)])
def test_bad_images_raise_input_error(bad):
    with pytest.raises(InputError):
        preprocess_page(bad)
