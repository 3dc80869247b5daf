"""Training regimes that build the zoo: vanilla, PGD-L2 adversarial, AdvProp.

* ``vanilla``: cross-entropy on clean images, AdamW with a one-cycle learning rate.
* ``pgd`` (Madry et al. 2018): cross-entropy on PGD-L2 examples only. The paper's robust
  ImageNet models were trained from scratch; here they are *fine-tuned from the vanilla twin*
  with the attack's eps ramped up linearly over the first ``eps_ramp`` of training, because PGD
  training from scratch collapsed to chance at this scale (a departure, stated in provenance).
* ``advprop-pgd1`` / ``advprop-pgd5`` (Xie et al. 2020): loss = CE(clean, main BN) +
  CE(adversarial, auxiliary BN), adversarial examples made with 1 or 5 PGD steps through the
  auxiliary BN; evaluation uses the main BN. Also fine-tuned from the vanilla ResNet (auxiliary
  BNs initialised from the main ones).

Attacks are computed with the model in eval mode, so attack passes do not move BN statistics.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from amx.attacks import PGDConfig, pgd
from amx.data.arrays import SplitArrays
from amx.zoo.architectures import Classifier

TRAINED_REGIMES = ("vanilla", "pgd", "advprop-pgd1", "advprop-pgd5")  # what amx's trainer runs

@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (a world's recipes are in its zoo module)."""

    regime: str
    epochs: float
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    eps: float = 1.0
    attack_steps: int = 0
    eps_ramp: float = 0.25
    init_from: str | None = None
    seed: int = 0

    def __post_init__(self):
        if self.regime not in TRAINED_REGIMES:
            raise ValueError(f"TrainConfig.regime: amx trains {TRAINED_REGIMES}, not {self.regime!r}")
        if self.epochs <= 0 or self.batch_size <= 0:
            raise ValueError("TrainConfig needs epochs > 0 and batch_size > 0")
        if (self.regime != "vanilla") != (self.attack_steps > 0):
            raise ValueError(f"TrainConfig.attack_steps: {self.attack_steps} for regime "
                             f"{self.regime!r}; adversarial regimes need >= 1, vanilla needs 0")

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def accuracy(model: Classifier, data: SplitArrays, batch_size: int = 500) -> float:
    """Clean top-1 accuracy of ``model`` (eval mode) on ``data``."""
    model.eval()
    correct = 0
    for start in range(0, len(data), batch_size):
        x, y = data.batch(slice(start, start + batch_size))
        correct += (model(x).argmax(1) == y).sum().item()
    return correct / len(data)


def _adversarial(model: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                 aux_bn: bool) -> torch.Tensor:
    model.eval()
    model.adversarial(aux_bn)
    x_adv = pgd(model, x, y, PGDConfig(eps=eps, steps=steps))
    model.train()
    return x_adv


def train(model: Classifier, cfg: TrainConfig, data: SplitArrays, val: SplitArrays | None = None,
          max_steps: int | None = None, log=print) -> dict:
    """Train ``model`` in place with ``cfg`` on ``data``; returns a history dict.

    ``max_steps`` stops early (a smoke test runs one batch). Deterministic given ``cfg.seed``.
    """
    torch.manual_seed(cfg.seed)
    order_rng = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = math.ceil(len(data) / cfg.batch_size)
    total = max(1, int(round(cfg.epochs * steps_per_epoch)))
    if max_steps is not None:
        total = min(total, max_steps)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=total, pct_start=0.2 if cfg.regime == "vanilla" else 0.1)
    model.to(memory_format=torch.channels_last)
    history = {"val_acc": [], "loss": [], "seconds": 0.0, "steps": total}
    start_time, step, running = time.time(), 0, 0.0
    while step < total:
        perm = torch.randperm(len(data), generator=order_rng).numpy()
        for b in range(steps_per_epoch):
            if step >= total:
                break
            x, y = data.batch(perm[b * cfg.batch_size:(b + 1) * cfg.batch_size])
            x = x.contiguous(memory_format=torch.channels_last)
            eps = cfg.eps * min(1.0, (step + 1) / max(1.0, cfg.eps_ramp * total))
            if cfg.regime == "vanilla":
                model.train()
                loss = F.cross_entropy(model(x), y)
            elif cfg.regime == "pgd":
                x_adv = _adversarial(model, x, y, eps, cfg.attack_steps, aux_bn=False)
                loss = F.cross_entropy(model(x_adv), y)
            else:  # AdvProp: clean through main BN + adversarial through auxiliary BN
                x_adv = _adversarial(model, x, y, eps, cfg.attack_steps, aux_bn=True)
                model.adversarial(True)
                loss_adv = F.cross_entropy(model(x_adv), y)
                model.adversarial(False)
                loss = F.cross_entropy(model(x), y) + loss_adv
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
            step += 1
            if step % steps_per_epoch == 0 or step == total:
                n = (step - 1) % steps_per_epoch + 1
                history["loss"].append(running / n)
                running = 0.0
                if val is not None:
                    history["val_acc"].append(accuracy(model, val))
                log(f"  step {step}/{total} loss {history['loss'][-1]:.3f}"
                    + (f" val {history['val_acc'][-1]:.3f}" if val is not None else "")
                    + f" ({time.time() - start_time:.0f}s)")
    model.adversarial(False)
    model.eval()
    model.to(memory_format=torch.contiguous_format)
    history["seconds"] = round(time.time() - start_time, 1)
    return history
