"""Machine configurations for fuzzing: small, serialisable recipes that boot any implementation.

A :class:`MachineConfig` names a preset of :mod:`kmem.spec.zones` (``x86_32`` with
HighMem, ``x86_64`` with DMA32 and an optional ZONE_MOVABLE, ``generic`` single
zones from a few pages to 2**20 pages, with holes and reserved ranges) or a
machine booted with ``from_proc`` from the /proc texts of a model that ran a
seeded warm-up. Its ``repr`` is valid Python and :meth:`MachineConfig.to_json`
round-trips, so a failing run prints a reproducer and the regression corpus can
store it. Nothing here imports Hypothesis or numba.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from kmem.spec import gfp as gfp_spec
from kmem.spec import zones as zones_spec
from kmem.spec.errors import InvalidArgument
from kmem.spec.zones import MachineLayout

PRESETS = ("generic", "x86_64", "x86_32", "from_proc")
NOWARN = gfp_spec.__GFP_NOWARN  # module level: inside a class body the name would be mangled
Range = tuple[int, int]


@dataclass(frozen=True)
class MachineConfig:
    """How to boot one machine; the same recipe boots every implementation.

    ``preset``: ``"generic"`` (``size`` = pages), ``"x86_64"``/``"x86_32"`` (``size`` =
    MB of RAM), or ``"from_proc"``: a machine of ``base`` that ran ``warmup`` seeded
    random page-API operations, booted again from its /proc/zoneinfo and
    /proc/buddyinfo with ``Machine.from_proc``. ``movablecore_mb`` (x86_64),
    ``holes``/``reserved`` (pfn ranges; generic and x86_64) and ``min_free_kbytes``
    (None: the kernel's boot value) follow :mod:`kmem.spec.zones` and
    :mod:`kmem.spec.watermarks`.
    """

    preset: str
    size: int
    movablecore_mb: int = 0
    holes: tuple[Range, ...] = ()
    reserved: tuple[Range, ...] = ()
    min_free_kbytes: int | None = None
    base: MachineConfig | None = None
    warmup: int = 0
    seed: int = 0
    extra: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InvalidArgument(f"unknown preset {self.preset!r}; expected one of "
                                  f"{', '.join(PRESETS)}")
        if self.preset == "from_proc" and self.base is None:
            raise InvalidArgument("a from_proc config needs base= (the machine that ran the "
                                  "warm-up)")

    # -- layouts -------------------------------------------------------------------------
    def layout(self) -> MachineLayout:
        """The :class:`~kmem.spec.zones.MachineLayout` (for ``from_proc``: of the base)."""
        if self.preset == "from_proc":
            assert self.base is not None
            return self.base.layout()
        if self.preset == "generic":
            return zones_spec.generic(self.size, holes=self.holes, reserved=self.reserved)
        if self.preset == "x86_64":
            return zones_spec.x86_64(self.size, movablecore_mb=self.movablecore_mb,
                                     holes=self.holes, reserved=self.reserved)
        return zones_spec.x86_32(self.size)

    def build(self, machine_cls: Any, policy: str = "lowest") -> Any:
        """Boot ``machine_cls`` (kmem.model.Machine, kmem.fastimpl.Machine, or any class
        with their constructors) under ``policy``."""
        if self.preset == "from_proc":
            zoneinfo, buddyinfo, sysctls = self.proc_texts()
            return machine_cls.from_proc(zoneinfo, buddyinfo, sysctls, policy=policy)
        kwargs: dict[str, Any] = {"policy": policy, **dict(self.extra)}
        if self.min_free_kbytes is not None:
            kwargs["min_free_kbytes"] = self.min_free_kbytes
        return machine_cls(self.layout(), **kwargs)

    def proc_texts(self) -> tuple[str, str, dict[str, object]]:
        """For ``from_proc``: the base machine's /proc texts and sysctls after the warm-up
        (run on the reference model, policy ``"lowest"``, seeded)."""
        from kmem.model import Machine  # the recipe's source of /proc text

        assert self.base is not None
        src = self.base.build(Machine, "lowest")
        rng = random.Random(self.seed)
        held: list[tuple[Any, int]] = []
        masks = (gfp_spec.GFP_KERNEL, gfp_spec.GFP_HIGHUSER_MOVABLE, gfp_spec.GFP_DMA,
                 gfp_spec.GFP_ATOMIC)
        for _ in range(self.warmup):
            if held and rng.random() < 0.4:
                page, order = held.pop(rng.randrange(len(held)))
                src.free_pages(page, order)
            else:
                order = rng.choice((0, 0, 0, 1, 2, 3, 5))
                page = src.alloc_pages(rng.choice(masks) | NOWARN, order)
                if page is not None:
                    held.append((page, order))
        sysctls = {"min_free_kbytes": src.min_free_kbytes,
                   "vm.lowmem_reserve_ratio": src.lowmem_reserve_ratio,
                   "vm.watermark_scale_factor": src.watermark_scale_factor}
        return src.zoneinfo(), src.buddyinfo(), sysctls

    # -- serialisation ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra"] = [list(kv) for kv in self.extra]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MachineConfig:
        d = dict(d)
        base = d.pop("base", None)
        return cls(**{**d, "holes": tuple(tuple(r) for r in d.get("holes", ())),
                      "reserved": tuple(tuple(r) for r in d.get("reserved", ())),
                      "extra": tuple(tuple(kv) for kv in d.get("extra", ())),
                      "base": cls.from_json(base) if base else None})

    def describe(self) -> str:
        """A short human label (``x86_64-4096M+movable8M``, ``generic-300p+2holes``)."""
        if self.preset == "from_proc":
            assert self.base is not None
            return f"from_proc({self.base.describe()}, warmup {self.warmup})"
        unit = "p" if self.preset == "generic" else "M"
        s = f"{self.preset}-{self.size}{unit}"
        if self.movablecore_mb:
            s += f"+movable{self.movablecore_mb}M"
        if self.holes:
            s += f"+{len(self.holes)}holes"
        if self.reserved:
            s += f"+{len(self.reserved)}reserved"
        if self.min_free_kbytes is not None:
            s += f" mfk={self.min_free_kbytes}"
        return s


#: a few fixed configurations the bulk runner and the CLI cycle through
STANDARD_CONFIGS: tuple[MachineConfig, ...] = (
    MachineConfig("generic", 1 << 12, min_free_kbytes=0),
    MachineConfig("generic", 1 << 20, min_free_kbytes=0),
    MachineConfig("generic", 700, holes=((100, 131),), reserved=((300, 302), (513, 600)),
                  min_free_kbytes=16),
    MachineConfig("x86_64", 40),
    MachineConfig("x86_64", 4096 + 64, movablecore_mb=16),
    MachineConfig("x86_32", 1024),
    MachineConfig("from_proc", 0, base=MachineConfig("x86_32", 960), warmup=400, seed=7),
)
