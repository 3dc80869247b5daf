"""amx's batched Carlini-Wagner L2 (``amx.attacks.carlini_wagner``) against foolbox 3.3.4's
``L2CarliniWagnerAttack``, which BIG ran. Compared in float64 (float32 passes round differently
by batch size, which hundreds of Adam steps amplify; see ``amx.attacks.boundary``)."""

import foolbox
import pytest
import torch

from amx.attacks.carlini_wagner import carlini_wagner
from amx.data.arrays import load_split
from amx.data.worlds import get_world
from amx.zoo import registry

SETTINGS = dict(binary_steps=3, steps=20, stepsize=0.01, initial_const=1e-3)


@pytest.fixture(scope="module")
def model64():
    return registry.load("resnet-mini", world="mini").double().eval()


@pytest.fixture(scope="module")
def batch(model64):
    images, labels = load_split(get_world("mini"), "eval", 12).batch(slice(None))
    images = images.double()
    with torch.no_grad():
        correct = model64(images).argmax(1) == labels
    return images[correct][:4], labels[correct][:4]


def _foolbox(model, images, labels, abort_early):
    attack = foolbox.attacks.L2CarliniWagnerAttack(
        binary_search_steps=SETTINGS["binary_steps"], steps=SETTINGS["steps"], stepsize=SETTINGS["stepsize"],
        initial_const=SETTINGS["initial_const"], abort_early=abort_early)
    criterion = foolbox.criteria.Misclassification(labels)
    return attack.run(foolbox.PyTorchModel(model, bounds=(0, 1)), images, criterion)


def test_every_step_run_equals_foolbox_on_the_batch(model64, batch):
    images, labels = batch
    points, found, passes = carlini_wagner(model64, images, labels, abort_early=False, **SETTINGS)
    theirs = _foolbox(model64, images, labels, abort_early=False)
    assert found.any() and torch.equal(found, theirs.flatten(1).any(1))  # foolbox: black where none found
    torch.testing.assert_close(points[found], theirs[found], rtol=0, atol=1e-12)
    assert torch.equal(points[~found], images[~found])
    assert passes == len(images) * SETTINGS["steps"] * SETTINGS["binary_steps"]


def test_the_early_abort_is_foolbox_s_on_a_batch_of_one_image(model64, batch):
    images, labels = batch
    points, found, passes = carlini_wagner(model64, images, labels, **SETTINGS)
    for j in range(len(images)):
        theirs = _foolbox(model64, images[j:j + 1], labels[j:j + 1], abort_early=True)
        assert bool(found[j]) == bool(theirs.any())
        if found[j]:
            torch.testing.assert_close(points[j], theirs[0], rtol=0, atol=1e-12)
    # measured: 84 of 240 passes; a stopped image leaves the batch
    assert 0 < passes < len(images) * SETTINGS["steps"] * SETTINGS["binary_steps"]


def test_an_image_s_abort_does_not_depend_on_its_batch(model64, batch):
    images, labels = batch
    together, found, _ = carlini_wagner(model64, images, labels, **SETTINGS)
    for j in range(len(images)):
        alone, found_alone, _ = carlini_wagner(model64, images[j:j + 1], labels[j:j + 1], **SETTINGS)
        assert bool(found_alone[0]) == bool(found[j])
        torch.testing.assert_close(alone[0], together[j], rtol=0, atol=1e-12)
