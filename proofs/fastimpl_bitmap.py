"""Translation validation of fastimpl's bitmap representation (policy "lowest") against the spec.

``kmem.fastimpl`` keeps a zone's free blocks as one bitmap per order: bit i of order k
is set when the block (base + i * 2**k, k) is free, and bit k of the *non-empty* mask
says whether order k has any. Its compiled steps (``fastimpl/kernels.py``:
``bm_set``/``bm_clear``/``bm_test``/``bm_first``, ``rmqueue_smallest``, ``free_one``)
are written here a second time as z3 terms over those words, line by line as the
compiled code computes them (:class:`BitmapSteps`), for zones of up to 64 pages at
pfn 0, where each order's bitmap is one 64-bit word (a single level: the summary
levels only speed up ``bm_first`` on longer bitmaps). The abstraction maps the words
to the spec's symbolic zone state (:class:`kmem.proofs.buddy_state.SymState`); the
spec's transitions come from its own functions (``buddy_state.alloc_steps`` runs
``rmqueue_smallest_order`` and ``expand`` on every path, ``free_steps`` runs
``free_one_page_delta``).

Claims, for every bitmap state of the zone (any set of free blocks, not only
well-formed ones) and every order that fits:

- alloc: the step fails exactly when the spec's does, and otherwise returns the
  lowest free block of the smallest non-empty order >= the request (the canonical
  "lowest" choice among the blocks ``__rmqueue_smallest`` may take) and leaves
  exactly the spec's next free set, with the non-empty mask in step;
- free: for every block of the zone, the words after ``free_one`` are the spec's
  ``free_next`` free set (merging with free buddies, never past MAX_PAGE_ORDER or the
  zone's end), with the non-empty mask in step.

tests/test_proofs_fastimpl.py runs :class:`BitmapSteps` on concrete words against the
compiled kernels, so the z3 terms and the numba code are the same computation.
"""

from __future__ import annotations

from types import SimpleNamespace

import z3

from kmem.spec import buddy as spec_buddy
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS

from .buddy_state import SymState, Window, alloc_steps, free_steps
from .core import Obligation, Prover

W = 64  # bits per bitmap word
ONE = z3.BitVecVal(1, W)
ZERO = z3.BitVecVal(0, W)
ALLOC_SIZES = (64, 48)  # zone sizes checked (pages from pfn 0); 48: a zone end inside a block
FREE_SIZES = (64,)  # the order-6 buddy already lies past the zone's end


def bv(x: int) -> z3.BitVecRef:
    return z3.BitVecVal(x, W)


class BitmapSteps:
    """The compiled steps of policy "lowest" as z3 terms (one word per order, base 0).

    ``words`` is a list of NR_PAGE_ORDERS 64-bit terms, ``ne`` the non-empty mask. The
    zone is [0, end). Methods mirror kernels.py; mutants replace one of them.
    """

    @staticmethod
    def ctz(w: z3.BitVecRef) -> z3.BitVecRef:
        """LLVM's cttz (``trailing_zeros``): the index of the lowest set bit."""
        r = bv(W)
        for b in range(W - 1, -1, -1):
            r = z3.If(z3.Extract(b, b, w) == 1, bv(b), r)
        return r

    def bm_first(self, words: list, k: int) -> z3.BitVecRef:
        """``bm_first``: one ctz per level (one level here)."""
        return self.ctz(words[k])

    @staticmethod
    def bm_set(words: list, ne: z3.BitVecRef, k: int, i: z3.BitVecRef) -> z3.BitVecRef:
        """``bm_set``: set bit i; a word turning non-zero sets bit k of the mask."""
        old = words[k]
        words[k] = old | (ONE << i)
        return z3.If(old != ZERO, ne, ne | bv(1 << k))

    @staticmethod
    def bm_clear(words: list, ne: z3.BitVecRef, k: int, i: z3.BitVecRef) -> z3.BitVecRef:
        """``bm_clear``: clear bit i; a word turning zero clears bit k of the mask."""
        new = words[k] & ~(ONE << i)
        words[k] = new
        return z3.If(new != ZERO, ne, ne & ~bv(1 << k))

    @staticmethod
    def bm_test(words: list, k: int, i: z3.BitVecRef) -> z3.BoolRef:
        return (z3.LShR(words[k], i) & ONE) != ZERO

    def is_free_block(self, words: list, end: int, pfn: z3.BitVecRef, k: int) -> z3.BoolRef:
        """``is_free_block`` for policy "lowest": inside the zone and the bit set (pfn is
        aligned to k wherever the steps ask)."""
        return z3.And(z3.ULT(pfn, bv(end)), self.bm_test(words, k, z3.LShR(pfn, k)))

    def half_index(self, pfn: z3.BitVecRef, o: int) -> z3.BitVecRef:
        """``expand``'s upper half at order o: ``add_free(pfn + 2**o, o)`` sets bit
        ``(pfn + 2**o) >> o``."""
        return z3.LShR(pfn + bv(1 << o), o)

    def rmqueue_smallest(self, words: list, ne: z3.BitVecRef, order: int
                         ) -> tuple[z3.BoolRef, z3.BitVecRef, list, z3.BitVecRef]:
        """``rmqueue_smallest``: (found, pfn, words after, mask after). The compiled code
        indexes the words by ``cur``; here each value of ``cur`` is one branch."""
        m = z3.LShR(ne, order)
        found = m != ZERO
        cur = bv(order) + self.ctz(m)
        pfn_out, words_out, ne_out = bv(0), list(words), ne
        for c in range(MAX_PAGE_ORDER, order - 1, -1):
            w = list(words)
            i = self.bm_first(w, c)
            pfn = i << c
            n = self.bm_clear(w, ne, c, i)
            for o in range(c - 1, order - 1, -1):
                n = self.bm_set(w, n, o, self.half_index(pfn, o))
            here = cur == bv(c)
            pfn_out = z3.If(here, pfn, pfn_out)
            words_out = [z3.If(here, a, b) for a, b in zip(w, words_out, strict=True)]
            ne_out = z3.If(here, n, ne_out)
        words_out = [z3.If(found, a, b) for a, b in zip(words_out, words, strict=True)]
        return found, pfn_out, words_out, z3.If(found, ne_out, ne)

    def free_one(self, words: list, ne: z3.BitVecRef, end: int, pfn: int, order: int
                 ) -> tuple[list, z3.BitVecRef]:
        """``free_one``: merge with free buddies while order < MAX_PAGE_ORDER, then set the
        merged block's bit. Iteration o of the loop runs only while every earlier buddy
        was free, so its pfn and buddy are the concrete values the code computes along
        that path (``merging`` is the loop condition still holding); each word changes
        only where the code writes it."""
        w = list(words)
        p = pfn
        at = [(order, pfn)]  # (order, pfn) where the loop may stop
        merging: z3.BoolRef = z3.BoolVal(True)
        stop = []  # stop[i]: the loop ended after merging i times
        for o in range(order, MAX_PAGE_ORDER):
            buddy = self.buddy_pfn(p, o)
            take = z3.And(merging, self.is_free_block(w, end, bv(buddy), o))
            stop.append(z3.And(merging, z3.Not(take)))
            tmp = list(w)
            n = self.bm_clear(tmp, ne, o, bv(buddy >> o))
            w[o] = z3.If(take, tmp[o], w[o])
            ne = z3.If(take, n, ne)
            p = self.merge_pfn(p, buddy)
            at.append((o + 1, p))
            merging = take
        stop.append(merging)
        for (k, q), here in zip(at, stop, strict=True):
            tmp = list(w)
            n = self.bm_set(tmp, ne, k, bv(q >> k))
            w[k] = z3.If(here, tmp[k], w[k])
            ne = z3.If(here, n, ne)
        return w, ne

    @staticmethod
    def buddy_pfn(pfn: int, order: int) -> int:
        """``buddy = pfn ^ (1 << order)``."""
        return pfn ^ (1 << order)

    @staticmethod
    def merge_pfn(pfn: int, buddy: int) -> int:
        """``pfn = pfn & buddy``: the merged block starts at the lower of the two."""
        return pfn & buddy


# -- the abstraction ---------------------------------------------------------------------

def fresh_words(tag: str = "w") -> tuple[list, z3.BitVecRef]:
    return ([z3.BitVec(f"{tag}{k}", W) for k in range(NR_PAGE_ORDERS)],
            z3.BitVec(f"{tag}_nonempty", W))


def bit(words: list, pfn: int, k: int) -> z3.BoolRef:
    j = pfn >> k
    return z3.Extract(j, j, words[k]) == 1


def abstract(window: Window, words: list) -> SymState:
    """The spec's symbolic state whose "slot is free" is the slot's bit (counters and the
    allocated set are left free: the steps do not read them)."""
    st = SymState.fresh(window)
    st.free = {slot: bit(words, *slot) for slot in window.slots}
    return st


def expected_words(words: list, free_post: dict) -> list:
    """The words that represent the spec's next free set: the pre-state's words (whose bits
    are the pre-state's slots, :func:`abstract`) with the touched slots' bits replaced by
    the step's new values."""
    out = list(words)
    for (pfn, k), value in free_post.items():
        j = pfn >> k
        out[k] = z3.If(value, out[k] | bv(1 << j), out[k] & ~bv(1 << j))
    return out


def well_formed(window: Window, words: list, ne: z3.BitVecRef) -> z3.BoolRef:
    """No bit for a block outside the zone; the non-empty mask in step with the words."""
    out = [mask_in_step(words, ne)]
    for k in range(NR_PAGE_ORDERS):
        outside = sum(1 << j for j in range(W) if (j << k, k) not in window.slot_set)
        out.append(words[k] & bv(outside) == ZERO)
    return z3.And(out)


def mask_in_step(words: list, ne: z3.BitVecRef) -> z3.BoolRef:
    """The non-empty mask has bit k exactly when word k is non-zero (and no other bits)."""
    want = bv(0)
    for k in range(NR_PAGE_ORDERS):
        want = want | z3.If(words[k] != ZERO, bv(1 << k), bv(0))
    return ne == want


def lowest(pre: SymState, block: tuple[int, int]) -> z3.BoolRef:
    """``block`` is the lowest free block of its order (the "lowest" policy's choice)."""
    return z3.And([z3.Not(pre.free[s]) for s in pre.window.slots
                   if s[1] == block[1] and s[0] < block[0]] or [z3.BoolVal(True)])


def same_words(a: list, b: list) -> z3.BoolRef:
    return z3.And([x == y for x, y in zip(a, b, strict=True)])


def check_alloc(prover: Prover, steps: BitmapSteps, npages: int) -> None:
    window = Window(0, npages)
    words, ne = fresh_words()
    pre = abstract(window, words)
    hyps = [well_formed(window, words, ne)]
    by_order: dict[int, list] = {}
    for step in alloc_steps(pre, spec_buddy):
        by_order.setdefault(step.key[1], []).append(step)
    for order in range(NR_PAGE_ORDERS):
        found, pfn, post_words, post_ne = steps.rmqueue_smallest(words, ne, order)
        claims = [mask_in_step(post_words, post_ne)]
        for step in by_order.get(order, []):
            if step.key[0] == "alloc-fail":
                claims.append(z3.Implies(step.enabled, z3.Not(found)))
                continue
            block = step.key[2]
            claims.append(z3.Implies(
                z3.And(step.enabled, lowest(pre, block)),
                z3.And(found, pfn == bv(block[0]),
                       same_words(post_words, expected_words(words, step.free_post)))))
        prover.prove(z3.And(claims), hyps, what=f"{npages}-page zone, alloc order {order}")


def check_free(prover: Prover, steps: BitmapSteps, npages: int) -> None:
    window = Window(0, npages)
    words, ne = fresh_words()
    pre = abstract(window, words)
    hyps = [well_formed(window, words, ne)]
    for step in free_steps(pre, spec_buddy):
        pfn, order = step.key[1]
        post_words, post_ne = steps.free_one(words, ne, npages, pfn, order)
        prover.prove(z3.And(same_words(post_words, expected_words(words, step.free_post)),
                            mask_in_step(post_words, post_ne)), hyps,
                     what=f"{npages}-page zone, free ({pfn:#x}, order {order})")


def obligations(steps: BitmapSteps | SimpleNamespace | None = None) -> list[Obligation]:
    """The translation-validation obligations for ``steps`` (fastimpl's, or a mutant)."""
    impl = steps or BitmapSteps()
    sizes = " and ".join(f"{n}" for n in ALLOC_SIZES)
    return [
        Obligation("fastimpl.bitmap.alloc", "fastimpl",
                   f"fastimpl's bitmap alloc step (ctz over per-order words, split into upper "
                   f"halves), on zones of {sizes} pages and every request order, returns the "
                   f"lowest block of the smallest non-empty order and leaves the spec's "
                   f"alloc_next free set (or fails exactly when the spec does).",
                   lambda pr: [check_alloc(pr, impl, n) for n in ALLOC_SIZES]),
        Obligation("fastimpl.bitmap.free", "fastimpl",
                   f"fastimpl's bitmap free step, on a zone of {FREE_SIZES[0]} pages and every "
                   f"block, "
                   f"leaves the spec's free_next free set (merging as free_one_page_delta).",
                   lambda pr: [check_free(pr, impl, n) for n in FREE_SIZES]),
    ]
