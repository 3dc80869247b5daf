"""Attribution methods: the contract every registered method meets, analytic checks on toy
models, cross-checks against the libraries the paper used, and bad input."""

import pytest
import torch
from captum.attr import InputXGradient
from torchray.attribution.gradient import gradient as torchray_gradient

from amx import methods
from amx.attacks.boundary import BoundaryConfig
from amx.data.arrays import load_split
from amx.data.worlds import DEFAULT_WORLD, get_world
from amx.methods import NotApplicableError
from amx.methods.base import upsample
from amx.methods.cam import layer_activations
from amx.testing import LinearModel, TinyGAPNet, cheap_method, largest_relative_difference
from amx.zoo import registry

pytestmark = pytest.mark.numerics  # kernel-path sensitive: .ci/run reruns these on the default path


@pytest.fixture(scope="module")
def model():
    return registry.load("resnet-mini", world="mini")


@pytest.fixture(scope="module")
def batch():
    return load_split(get_world(DEFAULT_WORLD), "eval", 3).batch(slice(None))


def _method(name):
    return cheap_method(name)


# --- the contract, generated from the registry -------------------------------------------------

@pytest.mark.parametrize("name", methods.names())
def test_contract(name, model, batch):
    images, targets = batch
    before = images.clone(), targets.clone()
    method = _method(name)
    maps = method(model, images, targets, seed=3)
    assert maps.shape == (3, 64, 64) and maps.dtype == torch.float32
    assert torch.isfinite(maps).all()
    assert torch.equal(images, before[0]) and torch.equal(targets, before[1])  # inputs untouched
    assert torch.equal(maps, method(model, images, targets, seed=3))            # same seed
    assert method.family in methods.base.FAMILIES
    assert isinstance(method.needs_gradients, bool) and isinstance(method.stochastic, bool)
    assert method.numerics in methods.base.NUMERICS
    assert bool(method.without_ties) == (method.numerics == "ties")


# An image's map must not depend on the images beside it: draws shared by the batch, losses and
# reductions per image. That is a property of the algorithm, so it is checked in float64, where a
# batch size's other kernels move a pass by about 1e-16 (float32: 1e-7, and the iterative methods
# amplify float32's up to 0.1 in a pixel, see the README's "Reproducibility across machines").
# A real dependence (one image's draws taken from another's) moves a map by 1e-3 of its scale or
# more (test_boundary shows it for the boundary search).
BATCH_TOLERANCE = 1e-9  # of each map's largest |value|


@pytest.fixture(scope="module")
def model64():
    return registry.load("resnet-mini", world="mini").double()


@pytest.mark.parametrize("name", methods.names())
def test_an_image_s_map_does_not_depend_on_its_batch(name, model64, batch):
    images, targets = batch[0].double(), batch[1]
    method = cheap_method(name, without_ties=True)
    maps = method(model64, images, targets, seed=3)
    assert maps.dtype == torch.float64
    one_by_one = torch.cat([method(model64, images[i:i + 1], targets[i:i + 1], seed=3) for i in range(3)])
    assert largest_relative_difference(one_by_one, maps) <= BATCH_TOLERANCE


@pytest.mark.parametrize("name", methods.names())
def test_seed_changes_only_stochastic_methods(name, model, batch):
    images, targets = batch
    method = _method(name)
    same = torch.equal(method(model, images, targets, seed=0), method(model, images, targets, seed=1))
    assert same != method.stochastic


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run with a GPU to check)")
@pytest.mark.parametrize("name", methods.names())
def test_cpu_and_cuda_agree(name, batch):
    # in float64, as the batch check and for its reason: the algorithm must not depend on the device
    images, targets = batch[0].double(), batch[1]
    method = cheap_method(name, without_ties=True)
    cpu = method(registry.load("resnet-mini").double(), images, targets, seed=0)
    gpu = method(registry.load("resnet-mini", device="cuda").double(), images.cuda(), targets.cuda(), seed=0)
    assert largest_relative_difference(gpu.cpu(), cpu) <= BATCH_TOLERANCE


def test_registry_lists_names_and_rejects_unknown_ones():
    assert {"gradient", "ig", "cam", "gradcam", "smoothgrad", "gradient_x_input"} <= set(methods.names())
    with pytest.raises(KeyError, match="unknown method 'gradcm'.*Did you mean 'gradcam'"):
        methods.get("gradcm")
    with pytest.raises(ValueError, match=r"method 'ig': unknown parameter\(s\) \['steps'\]; valid: "):
        methods.get("ig", steps=10)


def test_defaults_are_the_papers():
    assert methods.get("ig").config.n_steps == 50 and methods.get("ig").config.baseline == "zero"
    assert methods.get("smoothgrad").config.n_samples == 50
    assert methods.get("smoothgrad").config.noise == 0.15
    assert methods.get("gradient").config.reduction == "max_abs"
    agi = methods.get("agi").config
    assert (agi.eps, agi.iterations, agi.n_classes) == (0.05, 20, 20)  # the AGI paper's (its README: 15/15)
    big = methods.get("big").config
    assert (big.n_steps, big.integration) == (10, "riemann_trapezoid")
    assert big.boundary.eps == (36 / 255, 64 / 255, 0.3, 0.5, 0.7, 0.9, 1.1) and big.boundary.pgd_steps == 40
    assert (big.boundary.cw_binary_steps, big.boundary.cw_steps, big.boundary.cw_stepsize) == (9, 100, 0.01)
    assert methods.get("deeplift").config.baseline == "zero"


@pytest.mark.parametrize("preset", ["paper", "mini"])
def test_every_method_has_both_presets_for_every_zoo_model(preset):
    from amx.zoo.spec import paper_model_name

    for spec in registry.specs("mini").values():
        row = paper_model_name(spec.architecture, spec.regime)
        for name in methods.names():
            methods.get(name, preset=preset, model=row)  # valid configs for every model


def test_presets_follow_table_a1_and_scale_for_the_mini_world():
    assert methods.get("rise", preset="paper", model="ResNet-R").config.n_masks == 7000
    assert methods.get("rise", preset="paper", model="ResNet-R").config.cells == 4
    assert methods.get("rise", preset="mini", model="ResNet-R").config.n_masks == 7000 // 32
    assert methods.get("mp", preset="paper", model="MobileNet").config.iterations == 400
    assert methods.get("mp", preset="mini", model="ResNet-R").config.iterations == 10
    assert methods.get("mp", preset="mini", model="ResNet").config.iterations == 40  # 500, capped
    assert methods.get("ep", preset="paper", model="AlexNet-R").config.areas == (
        0.015, 0.03, 0.05, 0.1, 0.25, 0.5)
    assert methods.get("lime", preset="paper", model="DenseNet-R").config.n_superpixels == 50
    assert methods.get("ep", preset="mini").config.step == 2
    assert methods.get("rise", preset="mini", n_masks=10).config.n_masks == 10  # overrides win
    with pytest.raises(KeyError, match="no Table A1 row 'VGG'"):
        methods.get("rise", preset="paper", model="VGG")
    with pytest.raises(KeyError, match="unknown preset 'imagenet'. Valid presets: mini, paper"):
        methods.get("rise", preset="imagenet")


# --- analytic checks ------------------------------------------------------------------------------

def test_gradient_of_a_linear_model_is_its_weights():
    model = LinearModel(size=8)
    images, targets = torch.rand(2, 3, 8, 8), torch.tensor([2, 0])
    maps = methods.get("gradient")(model, images, targets)
    weights = model.linear.weight[targets].view(2, 3, 8, 8)
    torch.testing.assert_close(maps, weights.abs().amax(1), rtol=0, atol=1e-6)


def test_integrated_gradients_are_complete():
    model, images, targets = TinyGAPNet(), torch.rand(2, 3, 16, 16), torch.tensor([1, 3])
    ig = methods.get("ig", n_steps=200)
    attributions = ig.raw(model, images, targets)
    with torch.no_grad():
        gap = (model(images) - model(torch.zeros_like(images))).gather(1, targets[:, None]).squeeze(1)
    torch.testing.assert_close(attributions.sum((1, 2, 3)), gap, rtol=0.02, atol=1e-3)


def _coarse_cam(model, images, targets):
    with torch.no_grad():
        _, features = layer_activations(model, "features.3", images)
    assert features.shape[2:] == (8, 8)
    return torch.einsum("bk,bkhw->bhw", model.head[2].weight[targets], features)


def test_cam_is_the_target_weighted_sum_of_feature_maps():
    model, images, targets = TinyGAPNet(), torch.rand(2, 3, 16, 16), torch.tensor([1, 3])
    expected = upsample(_coarse_cam(model, images, targets), (16, 16))
    torch.testing.assert_close(methods.get("cam")(model, images, targets), expected)


def test_gradcam_is_relu_cam_over_the_cells_on_a_gap_linear_head():
    model, images, targets = TinyGAPNet(), torch.rand(3, 3, 16, 16), torch.tensor([0, 1, 2])
    expected = upsample(torch.relu(_coarse_cam(model, images, targets)) / 64, (16, 16))
    torch.testing.assert_close(methods.get("gradcam")(model, images, targets), expected)


# --- the libraries the paper used -------------------------------------------------------------

def test_gradient_equals_torchray(model, batch):
    images, targets = batch
    ours = methods.get("gradient")(model, images, targets)
    theirs = torchray_gradient(model, images.clone(), targets)[:, 0]
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_gradient_x_input_equals_captum(model, batch):
    images, targets = batch
    ours = methods.get("gradient_x_input")(model, images, targets)
    theirs = InputXGradient(model).attribute(images.clone().requires_grad_(), target=targets)
    torch.testing.assert_close(ours, theirs.detach().sum(1).abs(), rtol=0, atol=1e-5)


class _LogitOfSoftmax(torch.nn.Module):
    """sigmoid(output) = softmax probability: turns TorchRay's RISE scoring into the paper's."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.logit(torch.softmax(self.model(x), 1).double()).float()


def test_rise_equals_torchray_with_the_same_masks(model, batch):
    from torchray.attribution.rise import rise as torchray_rise

    from amx.methods.rise import draw_masks, rise_masks

    images, targets = batch
    method = methods.get("rise", n_masks=40, cells=5, batch_size=32)
    ours = method(model, images, targets, seed=7)
    grid, shifts = draw_masks(method.config, (64, 64), torch.Generator().manual_seed(7))
    masks = rise_masks(grid, shifts, (64, 64))[:, None]
    theirs = torchray_rise(_LogitOfSoftmax(model), images, num_masks=40, filter_masks=masks, batch_size=16)
    theirs = theirs[torch.arange(3), targets] / method.config.keep
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_rise_masks_follow_the_reference_layout():
    from amx.methods.rise import RISEConfig, draw_masks, rise_masks

    config = RISEConfig(n_masks=300, cells=7)
    grid, shifts = draw_masks(config, (64, 64), torch.Generator().manual_seed(0))
    assert shifts.min() >= 0 and shifts.max() < 10  # up to one cell of ceil(64 / 7) = 10 px
    masks = rise_masks(grid, shifts, (64, 64))
    assert masks.shape == (300, 64, 64) and masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean().item() - 0.5) < 0.03
    ones = rise_masks(torch.ones(1, 7, 7, dtype=torch.bool), torch.zeros(1, 2, dtype=torch.long), (64, 64))
    assert torch.equal(ones, torch.ones(1, 64, 64))


def test_smoothgrad_equals_captum_noise_tunnel_with_the_same_noise(model, batch, monkeypatch):
    from captum.attr import NoiseTunnel, Saliency

    import amx.methods.smoothgrad

    images, targets = batch
    # Captum draws float32 normals from torch's global generator; amx draws float64 ones (the same
    # bits on every kernel path, amx.draws) from its own. The same float32 stream for both here:
    monkeypatch.setattr(amx.methods.smoothgrad, "normal",
                        lambda shape, generator, dtype: torch.randn(shape, generator=generator, dtype=dtype))
    ours = methods.get("smoothgrad", n_samples=12)(model, images, targets, seed=4)
    span = images.flatten(1).amax(1) - images.flatten(1).amin(1)
    for j in range(len(images)):
        torch.manual_seed(4)  # Captum draws its noise from the global generator: the same stream
        theirs = NoiseTunnel(Saliency(model)).attribute(
            images[j:j + 1].clone().requires_grad_(), nt_type="smoothgrad", nt_samples=12,
            stdevs=0.15 * float(span[j]), target=int(targets[j]), abs=False)
        torch.testing.assert_close(ours[j], theirs[0].abs().amax(0), rtol=1e-4, atol=1e-6)


def test_sliding_patch_equals_captum_occlusion(model, batch):
    from captum.attr import Occlusion

    images, targets = batch
    ours = methods.get("sliding_patch", patch=20, stride=12)(model, images, targets)
    probability = lambda x: torch.softmax(model(x), 1)  # noqa: E731
    theirs = Occlusion(probability).attribute(images, sliding_window_shapes=(3, 20, 20),
                                              strides=(3, 12, 12), baselines=0.0, target=targets,
                                              perturbations_per_eval=16)
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4, atol=1e-5)


def test_shap_equals_gradient_explainer_with_the_same_draws(model, batch):
    import numpy as np
    import shap

    from amx.methods.shap import background_images, expected_gradients

    images, targets = batch
    assert torch.equal(model(images).argmax(1), targets)  # shap explains the top class here
    background = background_images("mini", 8)
    explainer = shap.GradientExplainer(model, background, batch_size=16)
    theirs, _ = explainer.shap_values(images, nsamples=10, ranked_outputs=1, rseed=5)
    np.random.seed(5)  # replay shap's draws: per image, per sample, a background index then t
    for j in range(len(images)):
        draws = [(np.random.choice(8), np.random.uniform()) for _ in range(10)]
        choice = torch.tensor([d[0] for d in draws])
        t = torch.tensor([d[1] for d in draws], dtype=torch.float32)
        ours = expected_gradients(model, images[j:j + 1], targets[j:j + 1], background, choice, t, 16)
        np.testing.assert_allclose(ours[0].numpy(), theirs[j, ..., 0], rtol=1e-3, atol=1e-5)


def test_lime_equals_lime_image_with_the_same_segments_and_seed(model, batch):
    import numpy as np
    from lime.lime_image import LimeImageExplainer

    from amx.methods.lime import superpixels

    images, targets = batch
    method = methods.get("lime", n_samples=60, batch_size=50)
    ours = method(model, images, targets, seed=2)
    stream_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(2)))

    def classifier(hwc_batch):
        x = torch.from_numpy(hwc_batch).permute(0, 3, 1, 2).float()
        with torch.no_grad():
            return torch.softmax(model(x), 1).numpy()

    for j in range(len(images)):
        segments = superpixels(images[j], method.config)
        explanation = LimeImageExplainer(random_state=stream_seed).explain_instance(
            images[j].permute(1, 2, 0).double().numpy(), classifier, labels=(int(targets[j]),),
            top_labels=None, hide_color=0, num_samples=60, segmentation_fn=lambda _, s=segments: s,
            random_seed=0)
        weights = dict(explanation.local_exp[int(targets[j])])
        theirs = np.vectorize(weights.get)(segments)
        assert ours[j].std() > 0
        np.testing.assert_allclose(ours[j].numpy(), theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kernels", ["compiled", "eager"])
@pytest.mark.parametrize("shape, step, sigma",
                         [((64, 64), 2, 6.0), ((48, 80), 3, 9.0), ((224, 224), 7, 21.0)])
def test_ep_mask_generator_equals_torchray(shape, step, sigma, kernels, monkeypatch):
    """Same masks and parameter gradients as TorchRay's MaskGenerator, with the compiled and
    the eager pooling kernels, and when the pooling takes one mask at a time."""
    from torchray.attribution.extremal_perturbation import MaskGenerator

    from amx.methods.ep import SmoothMaskGenerator, SoftmaxPooling, _Kernels

    if kernels == "eager":
        monkeypatch.setattr(_Kernels, "compiled", False)
    monkeypatch.setattr(SoftmaxPooling, "piece_elements", 50_000)
    theirs, ours = MaskGenerator(shape, step, sigma), SmoothMaskGenerator(shape, step, sigma)
    params = torch.rand(3, 1, *theirs.shape_in, generator=torch.Generator().manual_seed(0))
    params[0, 0, :4] = 0.0  # the clamp's edges
    params[1] = 1.0
    params.requires_grad_(True)
    upstream = torch.randn(3, 1, *theirs.shape_out, generator=torch.Generator().manual_seed(1))
    results = []
    for generator in (theirs, ours):
        cropped, full = generator.generate(params)
        results.append((cropped, full, torch.autograd.grad((full * upstream).sum(), params)[0]))
    for mine, reference in zip(results[1], results[0], strict=True):
        assert mine.shape == reference.shape
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=5e-5 * reference.abs().max().item())
    if kernels == "compiled" and not _Kernels.compiled:
        pytest.skip("torch.compile is not available here (no C++ compiler?): only eager was tested")


def test_ep_blur_pyramid_is_torchrays_in_float32_and_runs_in_float64(batch):
    from torchray.attribution.extremal_perturbation import Perturbation

    from amx.methods.ep import blur_pyramid

    for image in batch[0]:
        reference = Perturbation(image[None], num_levels=8, max_blur=20).pyramid
        assert torch.equal(blur_pyramid(image, 8, 20.0), reference)
        precise = blur_pyramid(image.double(), 8, 20.0)
        assert precise.dtype == torch.float64 and (precise - reference).abs().max() < 1e-6


def test_ep_mask_generator_falls_back_to_eager_with_a_warning(monkeypatch):
    """Where torch.compile fails, the generator warns once and gives the eager kernels' values."""
    from amx.methods.ep import SmoothMaskGenerator, _Kernels

    def no_compiler(kernel):
        def fail(*args):
            raise RuntimeError("no C++ compiler")
        return fail

    generator = SmoothMaskGenerator((32, 32), 2, 6.0)
    params = torch.rand(2, 1, *generator.shape_in, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(_Kernels, "compiled", False)
    eager, _ = generator.generate(params)
    monkeypatch.setattr(_Kernels, "compiled", None)
    monkeypatch.setattr(_Kernels, "_compiled", staticmethod(no_compiler))
    with pytest.warns(UserWarning, match="torch.compile failed .*no C\\+\\+ compiler"):
        fallback, _ = generator.generate(params)
    assert _Kernels.compiled is False
    torch.testing.assert_close(fallback, eager, rtol=0, atol=0)


@pytest.mark.parametrize("generator", ["torchray", "amx"])
def test_ep_equals_torchray_extremal_perturbation(batch, generator, monkeypatch):
    """With TorchRay's own mask generator injected, amx's batched optimisation gives TorchRay's
    masks to 1e-4. With amx's generator (equal to float rounding, above) the rounding decides a
    few pixels at the mask's clamp edge, and SGD carries that on: the masks agree to 0.01 at 99%
    of the pixels and to 0.05 at all. TorchRay runs with a stable sort, as amx's (its docstring:
    TorchRay's own leaves tied mask values in an order of the CPU's sort kernel)."""
    from torchray.attribution.extremal_perturbation import MaskGenerator, extremal_perturbation

    import amx.methods.ep

    unstable = torch.Tensor.sort
    monkeypatch.setattr(torch.Tensor, "sort", lambda self, dim=-1, descending=False, stable=False:
                        unstable(self, dim=dim, descending=descending, stable=True))
    if generator == "torchray":
        monkeypatch.setattr(amx.methods.ep, "SmoothMaskGenerator",
                            lambda shape, step, sigma, device: MaskGenerator(shape, step, sigma).to(device))
    images, targets = batch[0][:2], batch[1][:2]
    areas, settings = (0.05, 0.2), dict(step=2, sigma=6.0, iterations=25)
    ours = methods.get("ep", areas=areas, **settings).masks(registry.load("resnet-mini"), images, targets)
    reference_model = registry.load("resnet-mini")  # TorchRay switches off its requires_grad
    for j in range(len(images)):
        theirs, _ = extremal_perturbation(reference_model, images[j:j + 1], int(targets[j]),
                                          areas=list(areas), step=2, sigma=6.0, max_iter=25)
        difference = (ours[j] - theirs[:, 0]).abs()
        if generator == "torchray":
            assert difference.max() < 1e-4
        else:
            assert difference.max() < 0.05 and difference.mean() < 2e-3
            assert (difference > 0.01).float().mean() < 0.01


def test_mp_equals_the_reference_loop_one_image_at_a_time(model, batch):
    """The reference's loop (explain.py), one image at a time, against amx's batched masks."""
    import torch.nn.functional as F

    from amx.methods.mp import blurred, tv_norm

    images, targets = batch
    method = methods.get("mp", iterations=15, mask_size=8)
    ours = method(model, images, targets)
    cfg = method.config
    for j in range(len(images)):
        img, background = images[j:j + 1], blurred(images[j:j + 1], cfg)
        mask = torch.ones(1, 1, 8, 8, requires_grad=True)
        optimizer = torch.optim.Adam([mask], lr=cfg.learning_rate)
        for _ in range(cfg.iterations):
            up = F.interpolate(mask, size=(64, 64), mode="bilinear", align_corners=True).expand(1, 3, 64, 64)
            outputs = torch.softmax(model(img.mul(up) + background.mul(1 - up)), 1)
            loss = cfg.l1 * torch.mean(torch.abs(1 - mask)) + cfg.tv * tv_norm(mask, cfg.tv_beta)[0] \
                + outputs[0, targets[j]]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            mask.data.clamp_(0, 1)
        reference = 1 - F.interpolate(mask, size=(64, 64), mode="bilinear", align_corners=True)[0, 0]
        # Adam divides by the gradient's running RMS, so float differences between a batched and
        # a single-image forward grow to ~1e-4 over the iterations
        torch.testing.assert_close(ours[j], reference.detach(), rtol=0, atol=3e-4)
        assert ours[j].max() > 0


def test_mp_blur_matches_opencv_conventions():
    from amx.methods.mp import gaussian_blur, median_blur

    image = torch.zeros(1, 1, 15, 15)
    image[0, 0, 7, 7] = 1.0
    g = gaussian_blur(image, 11, 5.0)
    assert g.sum().item() == pytest.approx(1.0, abs=1e-6)  # reflect-101 keeps an inner delta's mass
    step = torch.zeros(1, 1, 15, 15)
    step[..., 8:] = 1.0
    assert torch.equal(median_blur(step, 11), step)  # a median keeps a straight edge


def test_model_inputs_per_pass_follow_the_image_size_unless_given():
    from amx.methods.base import default_inputs_per_pass

    sizes = {64: 64, 112: 41, 224: 10, 2048: 1}
    for size, expected in sizes.items():
        assert default_inputs_per_pass(torch.zeros(1, 3, size, size)) == expected
    assert methods.get("rise", batch_size=7).inputs_per_pass(torch.zeros(1, 3, 224, 224)) == 7
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        methods.get("rise", batch_size=0)


# --- bad input ----------------------------------------------------------------------------------

def test_bad_input_is_a_specific_error(model, batch):
    images, targets = batch
    gradient = methods.get("gradient")
    with pytest.raises(ValueError, match=r"images: values must be in \[0, 1\]"):
        gradient(model, images * 255, targets)
    with pytest.raises(ValueError, match=r"images: expected \[B, 3, H, W\], got \(3, 64, 64\)"):
        gradient(model, images[0], targets)
    with pytest.raises(ValueError, match=r"targets: class 20 is outside the model's 20 classes"):
        gradient(model, images, torch.tensor([0, 1, 20]))
    with pytest.raises(ValueError, match=r"targets: expected 3 integer class indices"):
        gradient(model, images, targets[:2])


@pytest.mark.parametrize("name", ["resnet-mini", "densenet-mini-R", "alexnet-mini"])
def test_gradcam_equals_pytorch_grad_cam_up_to_its_min_max_scaling(name, batch):
    """jacobgil's pytorch-grad-cam (the paper's GradCAM) min-max scales each map to [0, 1] and
    resizes it with OpenCV's bilinear filter; amx keeps the raw values (no metric sees the
    difference), so amx's maps are compared after the same scaling."""
    from pytorch_grad_cam import GradCAM as ReferenceGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = registry.load(name)
    images, targets = batch
    ours = methods.get("gradcam")(model, images, targets)
    layer = model.get_submodule(model.cam_layer)
    with ReferenceGradCAM(model=model, target_layers=[layer]) as reference:
        theirs = reference(input_tensor=images.clone(),
                           targets=[ClassifierOutputTarget(int(t)) for t in targets])
    low = ours.amin((1, 2), keepdim=True)
    scaled = (ours - low) / ((ours.amax((1, 2), keepdim=True) - low) + 1e-7)
    torch.testing.assert_close(scaled, torch.from_numpy(theirs), rtol=0, atol=1e-4)


def test_cam_on_a_model_without_gap_head_is_not_applicable(batch):
    images, targets = batch
    with pytest.raises(NotApplicableError, match="cam does not apply to model 'alexnet-mini'"):
        methods.get("cam")(registry.load("alexnet-mini"), images, targets)


# --- BIG's methods (seed 003): DeepLIFT, AGI, BIG ----------------------------------------------------

def _torchvision_models():
    import torchvision

    yield "resnet50", torchvision.models.resnet50(weights=None)
    yield "googlenet", torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    yield "mobilenet_v2", torchvision.models.mobilenet_v2(weights=None)
    yield "densenet121", torchvision.models.densenet121(weights=None)
    yield "alexnet", torchvision.models.alexnet(weights=None)


def _batch_norm_calibrated(model, images):
    """``model`` in eval mode with its BatchNorm statistics those of ``images``: a randomly initialised
    network's logits then differ by O(1) between images, not by 1e-11 (where rounding is the error)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average
    with torch.no_grad():
        model.train()(torch.cat([images, images.flip(0) * 0.5]))
    return model.eval()


def _completeness_error(attributions, model, images, baselines, targets):
    """Per image: |sum(attr) - (f(x) - f(x'))| / |f(x) - f(x')|."""
    with torch.no_grad():
        gap = (model(images) - model(baselines)).gather(1, targets[:, None]).squeeze(1).double()
    return ((attributions.sum((1, 2, 3)).double() - gap).abs() / gap.abs()).max().item()


@pytest.mark.parametrize("name", [s for s in registry.specs("mini")])
def test_deeplift_is_complete_on_every_mini_zoo_model(name, batch):
    model, (images, targets) = registry.load(name), batch
    attributions = methods.get("deeplift").raw(model, images, targets)
    assert _completeness_error(attributions, model, images, torch.zeros_like(images), targets) <= 1e-3


def test_deeplift_is_complete_on_the_imagenet_and_photos_architectures():
    """torchvision's families (reused ReLU modules, ReLU6, functional ReLUs, overlapping max-pools
    after ReLUs, where Captum 0.9.0 raises or is wrong) and the photos world's EfficientNet-Lite0,
    randomly initialised, in float64 so that the check measures the rule, not rounding."""
    from amx.zoo.photos import EfficientNetLite0

    images = torch.rand(2, 3, 224, 224, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    baselines = torch.full_like(images, 0.5)  # not zero: every ReLU6 input leaves its kink
    for name, model in [*_torchvision_models(), ("efficientnet_lite0", EfficientNetLite0())]:
        model = _batch_norm_calibrated(model.double(), images)
        targets = model(images).argmax(1)
        attributions = methods.deeplift.deeplift_attributions(model, images, baselines, targets, 4)
        assert _completeness_error(attributions, model, images, baselines, targets) <= 1e-3, name


def test_deeplift_equals_captum_where_captum_is_right():
    """A network Captum handles (distinct activation modules, no max-pooling): the same attributions."""
    from captum.attr import DeepLift as CaptumDeepLift

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.Sigmoid(), torch.nn.AvgPool2d(2), torch.nn.Conv2d(8, 8, 3), torch.nn.Tanh(),
        torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 5)).double().eval()
    images = torch.rand(4, 3, 16, 16, dtype=torch.float64)
    baselines = torch.rand(4, 3, 16, 16, dtype=torch.float64) * 0.2
    targets = torch.tensor([0, 1, 2, 4])
    reference = CaptumDeepLift(model).attribute(images, baselines, target=targets)
    ours = methods.deeplift.deeplift_attributions(model, images, baselines, targets, 8)
    torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-12)


def test_big_integrates_from_the_boundary_point_and_is_complete(model, batch):
    from amx.attacks.boundary import boundary_search
    from amx.methods.big import big_attributions

    images, targets = batch
    reachable = BoundaryConfig(eps=(2.0, 8.0, 32.0), pgd_steps=10, cw_steps=4, cw_binary_steps=2)
    method = methods.get("big", n_steps=200, boundary=reachable)
    found = boundary_search(model, images, targets, method.config.boundary, torch.Generator().manual_seed(0))
    assert found.found.all()
    attributions = big_attributions(model, images, found.points, targets, method.config, 64)
    assert _completeness_error(attributions, model, images, found.points, targets) <= 0.02
    # the method's own search draws the same points from the same seed
    torch.testing.assert_close(method(model, images, targets, seed=0),
                               attributions.sum(1).abs(), rtol=1e-4, atol=1e-6)


def _agi_reference(model, image, explained, cfg, classes):
    """AGI as the paper's Algorithm 1 reads, one image and one false class at a time."""
    total = torch.zeros_like(image)
    for false in classes:
        if false == explained:
            continue
        x = image.clone()
        for _ in range(cfg.iterations):
            x.requires_grad_(True)
            probabilities = model(x[None]).double().softmax(1)[0]
            if probabilities.argmax() == false:
                break
            grad_false = torch.autograd.grad(probabilities[false], x, retain_graph=True)[0]
            grad_explained = torch.autograd.grad(probabilities[explained], x)[0]
            step = (x.detach() + cfg.eps * grad_false.sign()).clamp(0, 1)
            total -= grad_explained * (step - x.detach())
            x = step
    return total


def test_agi_equals_the_reference_algorithm_one_image_and_class_at_a_time(model, batch):
    from amx.methods.agi import false_classes

    images, targets = batch
    method = methods.get("agi", iterations=6, n_classes=5)
    ours = method.raw(model, images, targets)
    classes = false_classes(20, 5)
    for j in range(len(images)):
        reference = _agi_reference(model, images[j], int(targets[j]), method.config, classes)
        torch.testing.assert_close(ours[j], reference.float(), rtol=1e-3, atol=1e-6)
    assert ours.abs().sum() > 0


def test_agi_paths_stop_once_the_model_predicts_their_class():
    from amx.methods.agi import AGIConfig, agi_paths

    model, image, cfg = LinearModel(), torch.rand(1, 3, 8, 8), AGIConfig(iterations=5)
    with torch.no_grad():
        predicted = int(model(image).argmax(1))
    explained, other = (predicted + 1) % 3, (predicted + 2) % 3
    stopped = agi_paths(model, image, torch.tensor([explained]), torch.tensor([predicted]), cfg)
    assert torch.equal(stopped, torch.zeros_like(stopped))  # the model predicts it already: no step
    assert agi_paths(model, image, torch.tensor([explained]), torch.tensor([other]), cfg).abs().sum() > 0
    same = agi_paths(model, image, torch.tensor([explained]), torch.tensor([explained]), cfg)
    assert torch.equal(same, torch.zeros_like(same))  # the explained class is no false class
