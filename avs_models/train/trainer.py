"""The training loop: one process, or several under ``torchrun`` (PyTorch DDP).

Run layout (``out`` folder):
    config.yaml        the resolved config (every key, defaults included)
    last.pt, best.pt   ``avs_ros/1`` checkpoints (config + metrics inside; load_model reads
                       them); best.pt has the highest validation J so far
    trainer_state.pt   optimiser, LR scheduler, AMP scaler, epoch, step, best J, seconds and RNG
                       states of the last epoch (what ``--resume`` restores)
    train_log.csv      one row per ``log_every`` steps: epoch, step, lr, loss terms
    val_log.csv        one row per validation: epoch, step, J, F, seconds
    tb/                TensorBoard events, when ``tensorboard`` is installed

Distributed: when ``WORLD_SIZE`` > 1 (set by ``torchrun``), the process group is initialised
from the environment (``nccl`` on CUDA, ``gloo`` on CPU), the model is wrapped in
``DistributedDataParallel`` and the training split sharded by ``DistributedSampler``; rank 0
validates, logs and writes checkpoints. ``train.batch_size`` is per process.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from ..checkpoints import (CheckpointError, load_model, load_state_dict_strict, read_checkpoint,
                           save_checkpoint)
from ..losses import build_criterion
from ..registry import build_model
from .config import Config, save_config
from .data import build_dataset, input_contract
from .evaluate import _collate, evaluate

log = logging.getLogger(__name__)
#: steps of each process not counted in images_per_s (cuDNN search, allocator warm-up)
THROUGHPUT_SKIP = 5


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def lr_factor(it: int, total: int, cfg) -> float:
    """Multiplier of the peak lr at iteration ``it`` of ``total`` (``cfg``: OptimConfig):
    linear warm-up from ``warmup_ratio`` over ``warmup_iters``, then poly
    ``(1 - it/total)^power``, cosine ``0.5(1 + cos(pi it/total))`` or constant."""
    if it < cfg.warmup_iters:
        return cfg.warmup_ratio + (1 - cfg.warmup_ratio) * it / cfg.warmup_iters
    frac = min(it / max(total, 1), 1.0)
    if cfg.scheduler == "poly":
        return (1 - frac) ** cfg.poly_power
    if cfg.scheduler == "cosine":
        return 0.5 * (1 + math.cos(math.pi * frac))
    return 1.0


def build_training_model(cfg: Config):
    """The preset of ``cfg.model`` with its options, optional pretrained weights, the weights
    of ``init_checkpoint`` (strictly: same preset, classes and options), the input contract
    of :func:`~.data.input_contract` (``image_size``, ``audio_front_end``) and the audio
    encoder frozen per ``freeze_audio`` (auto: frozen exactly when ``audio_weights`` or
    ``init_checkpoint`` is given: both carry a trained audio encoder)."""
    m = cfg.model
    kwargs = dict(m.options)
    if m.backbone_weights:
        kwargs["backbone_weights"] = m.backbone_weights
    if m.audio_weights:
        kwargs["audio_weights"] = m.audio_weights
    model = build_model(m.preset, num_classes=m.num_classes, **kwargs)
    if m.init_checkpoint:
        start, meta = load_model(m.init_checkpoint)
        if meta["preset"] != m.preset:
            raise CheckpointError(f"model.init_checkpoint {m.init_checkpoint} holds preset "
                                  f"{meta['preset']!r}, the config trains {m.preset!r}")
        load_state_dict_strict(model, start.state_dict(),
                               f"model.init_checkpoint {m.init_checkpoint}")
    model.contract = input_contract(cfg)
    pretrained_audio = bool(m.audio_weights or m.init_checkpoint)
    freeze = m.freeze_audio == "true" or (m.freeze_audio == "auto" and pretrained_audio)
    if freeze:
        model.freeze_audio_backbone()
    return model


def param_groups(model: torch.nn.Module, lr: float, lr_mult: dict[str, float]) -> list[dict]:
    """AdamW parameter groups of ``model``'s trainable parameters: one at ``lr``, and one at
    ``lr * m`` for each ``prefix: m`` of ``lr_mult`` (``optim.lr_mult``; a parameter belongs to
    its longest prefix that equals its name or ends at a ``.`` of it). Groups are in a fixed
    order (the 1 · lr group, then prefixes sorted), so optimiser states resume.

    Raises ValueError when a prefix matches no trainable parameter (a misspelt module name
    would otherwise train silently at 1 · lr).
    """
    prefixes = sorted(lr_mult, key=len, reverse=True)
    members: dict[str | None, list] = {None: [], **{p: [] for p in sorted(lr_mult)}}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        owner = next((p for p in prefixes if name == p or name.startswith(p + ".")), None)
        members[owner].append(param)
    unused = [p for p in lr_mult if not members[p]]
    if unused:
        raise ValueError(f"optim.lr_mult: no trainable parameter is named {unused} or below "
                         f"it (top-level modules: "
                         f"{sorted({n.split('.')[0] for n, _ in model.named_parameters()})})")
    return [{"params": params, "lr": lr * (lr_mult[p] if p else 1.0)}
            for p, params in members.items() if params]


class _Logs:
    """CSV logs (always) and TensorBoard (when installed and enabled); rank 0 only."""

    def __init__(self, out: Path, tensorboard: bool) -> None:
        self.out = out
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(out / "tb"))
            except ImportError:
                log.info("tensorboard is not installed: CSV logs only")

    def row(self, name: str, values: dict) -> None:
        path = self.out / name
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(values))
            if new:
                w.writeheader()
            w.writerow(values)
        if self.tb is not None:
            prefix = name.split("_")[0]
            for k, v in values.items():
                if k not in ("epoch", "step") and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{prefix}/{k}", v, values["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def train(cfg: Config, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train per ``cfg`` into ``out`` (see the module docstring for the files).

    Args:
        resume: continue from ``out/last.pt`` + ``out/trainer_state.pt`` (weights, optimiser,
            scheduler, scaler, epoch, step, best J, RNG); an error if they are missing.
        progress: tqdm bars on rank 0.

    Returns (rank 0; other ranks an empty dict) ``{"best": {...}, "last": {...}, "epochs",
    "steps", "seconds", "losses": [loss per logged step], "images_per_s" (training images per
    second over all processes, after the first :data:`THROUGHPUT_SKIP` steps, data loading
    included, validation excluded; None when too few steps), "peak_gpu_mb" (this process's
    ``torch.cuda.max_memory_allocated``; None on CPU)}`` where best/last hold the validation
    metrics.

    Raises:
        FileNotFoundError: dataset missing, or resume without a previous run.
        ConfigError / PresetError: bad options.
    """
    from tqdm import tqdm

    world = int(os.environ.get("WORLD_SIZE", "1"))
    distributed = world > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    t = cfg.train
    if t.num_threads and device.type == "cpu":
        torch.set_num_threads(t.num_threads)
    seed_everything(t.seed + rank)
    out = Path(out)
    main = rank == 0
    if main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")

    train_set = build_dataset(cfg, cfg.data.train_split, train=True)
    val_set = build_dataset(cfg, cfg.data.val_split, train=False) if main else None
    sampler = DistributedSampler(train_set, shuffle=True, seed=t.seed) if distributed else None
    gen = torch.Generator().manual_seed(t.seed)
    loader = DataLoader(train_set, batch_size=t.batch_size, shuffle=sampler is None,
                        sampler=sampler, num_workers=cfg.data.workers, drop_last=True,
                        collate_fn=_collate, worker_init_fn=_worker_init, generator=gen,
                        persistent_workers=cfg.data.workers > 0)
    if len(loader) == 0:
        raise ValueError(f"training split {cfg.data.train_split!r} has {len(train_set)} samples,"
                         f" fewer than one batch of {t.batch_size} per process")

    model = build_training_model(cfg).to(device)
    criterion = build_criterion(cfg.model.preset, cfg.model.num_classes, **cfg.loss.options)
    o = cfg.optim
    groups = param_groups(model, o.lr, o.lr_mult)
    params = [p for g in groups for p in g["params"]]
    optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas),
                                  weight_decay=o.weight_decay)
    steps_per_epoch = len(loader)
    total = t.epochs * steps_per_epoch
    if t.max_steps:
        total = min(total, t.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                  lambda it: lr_factor(it, total, o))
    use_amp = t.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    start_epoch, step, best_j, seconds_before = 0, 0, -1.0, 0.0
    if resume:
        last, state_path = out / "last.pt", out / "trainer_state.pt"
        if not last.is_file() or not state_path.is_file():
            raise FileNotFoundError(f"--resume needs {last} and {state_path} from a previous run")
        ckpt = read_checkpoint(last)
        load_state_dict_strict(model, {k: v.float() if v.is_floating_point() else v
                                       for k, v in ckpt["model"].items()}, f"checkpoint {last}")
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, step, best_j = state["epoch"], state["step"], state["best_j"]
        seconds_before = state["seconds"]
        _set_rng_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
        gen.set_state(state["loader_rng"])

    net = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None)
    logs = _Logs(out, t.tensorboard) if main else None
    t0 = time.perf_counter() - seconds_before   # seconds count across resumes
    # training throughput: steps after the first THROUGHPUT_SKIP of this process (cuDNN
    # algorithm search, allocator growth), data loading included, validation excluded
    tp_from_step, tp_start, tp_end = step + THROUGHPUT_SKIP, None, None
    losses: list[float] = []
    result: dict = {"best": None, "last": None}
    config_dict = cfg.to_dict()
    epochs_done = start_epoch
    for epoch in range(start_epoch, t.epochs):
        if t.max_steps and step >= t.max_steps:
            break
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{t.epochs}", disable=not (main and progress),
                   leave=False)
        for batch in bar:
            image = batch["image"].to(device, non_blocking=True)
            audio = batch["audio"].to(device, non_blocking=True)
            mask = batch["mask"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                outputs = net(image, audio)
            outputs = {k: (v.float() if isinstance(v, torch.Tensor) else [a.float() for a in v])
                       for k, v in outputs.items()}
            terms = criterion(outputs, mask)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(terms["loss"]).backward()
            if o.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, o.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            loss = float(terms["loss"].detach())      # waits for the step: clocks are fair
            if step == tp_from_step:
                tp_start = time.perf_counter()
            tp_end = time.perf_counter()
            losses.append(loss)
            if main:
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
                if step % t.log_every == 0 or step == 1:
                    logs.row("train_log.csv", {
                        "epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
                        **{k: round(float(v.detach()), 6) for k, v in terms.items()},
                        "seconds": round(time.perf_counter() - t0, 1)})
            if t.max_steps and step >= t.max_steps:
                break
        epochs_done = epoch + 1
        last_epoch = epoch + 1 >= t.epochs or bool(t.max_steps and step >= t.max_steps)
        if main and ((epoch + 1) % t.val_every == 0 or last_epoch):
            tv = time.perf_counter()
            metrics = evaluate(model, val_set, batch_size=t.val_batch_size, device=device,
                               num_classes=cfg.model.num_classes, amp=use_amp)
            metrics = {"split": cfg.data.val_split, "epoch": epoch + 1, "step": step,
                       **metrics}
            logs.row("val_log.csv", {"epoch": epoch + 1, "step": step,
                                     "J": round(metrics["J"], 6), "F": round(metrics["F"], 6),
                                     "seconds": round(time.perf_counter() - tv, 1)})
            result["last"] = metrics
            is_best = metrics["J"] > best_j
            if is_best:
                best_j = metrics["J"]
                result["best"] = metrics
            if is_best:
                save_checkpoint(model, out / "best.pt", config=config_dict, half=t.save_half,
                                metrics={"val": metrics, "best_val_J": best_j,
                                         "train_seconds": round(time.perf_counter() - t0, 1)})
            log.info("epoch %d step %d: val J %.4f F %.4f (best %.4f)", epoch + 1, step,
                     metrics["J"], metrics["F"], best_j)
        if main:
            save_checkpoint(model, out / "last.pt", config=config_dict, half=t.save_half,
                            metrics={"val": result["last"], "best_val_J": best_j,
                                     "epoch": epoch + 1, "step": step,
                                     "train_seconds": round(time.perf_counter() - t0, 1)})
        if distributed:
            rngs = [None] * world
            dist.all_gather_object(rngs, _rng_state())
        else:
            rngs = [_rng_state()]
        if main:
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict(), "epoch": epoch + 1, "step": step,
                        "best_j": best_j, "rng": rngs, "loader_rng": gen.get_state(),
                        "seconds": time.perf_counter() - t0},
                       out / "trainer_state.pt")
        if distributed:
            dist.barrier()
    if logs is not None:
        logs.close()
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    if not main:
        return {}
    timed = step - tp_from_step
    result.update({"epochs": epochs_done,
                   "steps": step, "seconds": round(time.perf_counter() - t0, 1),
                   "losses": losses,
                   "images_per_s": timed * t.batch_size * world / (tp_end - tp_start)
                   if tp_start is not None and timed > 0 and tp_end > tp_start else None,
                   "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20
                   if device.type == "cuda" else None})
    return result
