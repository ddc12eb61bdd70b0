"""The site's budget: request classes, their order under saturation, and fairness within a class.

Every request to one myMoment host takes a GCRA slot (rate and burst per host, shared by every worker).
Instead of reserving the next slot in arrival order, a request waits in the queue of its class and is
granted a slot only when it is its turn:

- **Priority.** Classes are served highest first (`RequestClass`, 0 = highest). A request that arrives
  while lower-class requests wait is served before all of them: it waits behind no lower-class request
  granted after its arrival, except at most one guaranteed turn (below).
- **Minimum share.** Every `share_every`-th grant, while more than one class waits, is a guaranteed
  turn: it goes to a waiting class *below* the one strict priority would serve, the classes taking such
  turns in rotation. So every waiting class gets at least one grant in every `share_every × (C − 1)`
  grants (C = 5 classes): with the defaults (4, 2 requests/s) the head of any class is granted within
  16 slots = 8 s of saturation, and each waiting class keeps at least 1/16 of the budget.
- **Fairness.** Within a class, waiters are ordered by start tags of fair queueing: a request of owner
  `o` (a process) in group `g` (its user) gets `max(V, last[o]) + n(g)`, with V the tag last served in
  the class and n(g) the group's waiting requests. Each group gets an equal share of its class whatever
  its number of processes, and within a group the processes take turns; equal tags go in arrival order.

`BudgetState` is the model, on an injected clock; `GRANT_LUA` is the same algorithm as one atomic Redis
script (the server's clock, or an injected one in tests). Both answer a poll with (granted, the least
time until the turn); the waiter polls again then (at most MAX_POLL_SECONDS later), so the waiter whose
turn comes polls in time, and a waiter that stops polling is forgotten `GRACE_SECONDS` after it should
have polled. A request with `max_wait` (discovery) gives its turn up when that time says it would wait
longer (BudgetSaturated): it does not hold a worker's activity slot while the site is saturated.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum


class RequestClass(IntEnum):
    """What a request to the site is for, highest priority first."""

    POST = 0  # the comment's POST and the redirect that follows it
    PREPARE = 1  # the article read that prepares (or re-checks before) a comment
    SESSION = 2  # session work: login, probe
    DISCOVERY = 3  # the article lists of discovery
    FOLLOW_UP = 4  # student backups and follow-up reads of articles already handled (article versions)

    @property
    def label(self) -> str:
        return self.name.lower()


CLASSES = len(RequestClass)
DEFAULT_SHARE_EVERY = 4
GRACE_SECONDS = 5.0  # a waiter that does not poll again this long after its hint is forgotten
MAX_POLL_SECONDS = 15.0  # a waiter polls at least this often (waiters ahead of it may vanish)
DISCOVERY_MAX_WAIT_SECONDS = 5.0  # a discovery gives its turn up (and slows down) rather than wait longer


def starvation_bound_slots(share_every: int = DEFAULT_SHARE_EVERY) -> int:
    """Grants after which the head of any waiting class has been served, however saturated the site."""
    return share_every * (CLASSES - 1) if share_every > 0 else 0


@dataclass(frozen=True)
class SiteRequest:
    """The class of the requests made in this context, and whose they are (for round robin)."""

    cls: RequestClass = RequestClass.SESSION
    owner: str = ""  # the process (or the login when no process is known)
    group: str = ""  # the user the owner belongs to
    # Give the turn up (BudgetSaturated) rather than wait longer than this; None: wait for the turn.
    max_wait: float | None = None


class BudgetSaturated(Exception):
    """A request that would wait longer than its `max_wait` for its turn gave it up."""

    def __init__(self, waited: float, expected: float) -> None:
        super().__init__(
            f"the site's budget is saturated: waited {waited:.1f} s, {expected:.1f} s more at least"
        )
        self.waited = waited
        self.expected = expected  # the least time its turn was still away


_current: contextvars.ContextVar[SiteRequest | None] = contextvars.ContextVar("site_request", default=None)


def current_site_request() -> SiteRequest:
    """The request class in force here; requests nobody labelled count as session work."""
    return _current.get() or SiteRequest()


@contextlib.contextmanager
def site_request(
    cls: RequestClass, owner: str | None = None, group: str | None = None, max_wait: float | None = None
) -> Iterator[SiteRequest]:
    """Label the site requests made inside: `with site_request(RequestClass.DISCOVERY, process_id, user):`.

    Owner and group default to the enclosing label's, so a client can raise a POST's class without
    knowing whose it is; `max_wait` (BudgetSaturated) holds for this label only.
    """
    outer = current_site_request()
    label = SiteRequest(
        cls, outer.owner if owner is None else owner, outer.group if group is None else group, max_wait
    )
    token = _current.set(label)
    try:
        yield label
    finally:
        _current.reset(token)


_waits: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("site_waits", default=None)


@contextlib.contextmanager
def measuring_waits() -> Iterator[list[float]]:
    """Collects the seconds each site request made inside waited for its turn (`record_wait`)."""
    waits: list[float] = []
    token = _waits.set(waits)
    try:
        yield waits
    finally:
        _waits.reset(token)


def record_wait(seconds: float) -> None:
    if (waits := _waits.get()) is not None:
        waits.append(seconds)


def wait_bucket(seconds: float) -> int:
    """Histogram bucket of a wait: 0 below 0.1 s, then k for [0.1·2^(k−1), 0.1·2^k) s."""
    if seconds < 0.1:
        return 0
    return min(20, int(math.log2(seconds / 0.1)) + 1)


def bucket_upper(bucket: int) -> float:
    return 0.1 * float(2**bucket)


@dataclass
class ClassStats:
    """Grants of one class and their waits (a log histogram, enough for p50/p95)."""

    count: int = 0
    wait_total: float = 0.0
    wait_max: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, wait: float) -> None:
        self.count += 1
        self.wait_total += wait
        self.wait_max = max(self.wait_max, wait)
        b = wait_bucket(wait)
        self.buckets[b] = self.buckets.get(b, 0) + 1

    def quantile(self, q: float) -> float | None:
        """Upper edge of the bucket holding the q-quantile (an over-estimate by at most 2×)."""
        if not self.count:
            return None
        seen, need = 0, q * self.count
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= need:
                return min(bucket_upper(b), self.wait_max)
        return self.wait_max

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "grants": self.count,
            "wait_mean_s": round(self.wait_total / self.count, 3) if self.count else None,
            "wait_p50_s_at_most": self.quantile(0.5),
            "wait_p95_s_at_most": self.quantile(0.95),
            "wait_max_s": round(self.wait_max, 3),
        }


@dataclass
class _Waiter:
    cls: int
    entry: tuple[int, int, str]  # (tag, seq, id): the order within the class
    group: str
    since: float
    expires: float


@dataclass
class BudgetState:
    """One host's budget in memory: the GCRA state, the class queues and their fair-queueing tags."""

    tat: float | None = None
    grants: int = 0
    turn: int = 0
    seq: int = 0
    queues: list[list[tuple[int, int, str]]] = field(default_factory=lambda: [[] for _ in range(CLASSES)])
    vtime: list[int] = field(default_factory=lambda: [0] * CLASSES)
    last: list[dict[str, int]] = field(default_factory=lambda: [{} for _ in range(CLASSES)])
    counts: list[dict[str, int]] = field(default_factory=lambda: [{} for _ in range(CLASSES)])
    waiters: dict[str, _Waiter] = field(default_factory=dict)
    stats: dict[int, ClassStats] = field(default_factory=dict)
    next_sweep: float = 0.0

    def leave(self, wid: str) -> None:
        w = self.waiters.pop(wid, None)
        if w is None:
            return
        queue = self.queues[w.cls]
        i = bisect.bisect_left(queue, w.entry)
        if i < len(queue) and queue[i] == w.entry:
            del queue[i]
        counts = self.counts[w.cls]
        counts[w.group] = counts.get(w.group, 1) - 1
        if counts[w.group] <= 0:
            del counts[w.group]
        if not queue:  # an idle class starts its tags afresh
            self.vtime[w.cls] = 0
            self.last[w.cls].clear()

    def _enqueue(self, wid: str, req: SiteRequest, now: float) -> _Waiter:
        c = int(req.cls)
        n = self.counts[c].get(req.group, 0) + 1
        self.counts[c][req.group] = n
        tag = max(self.vtime[c], self.last[c].get(req.owner, 0)) + n
        self.last[c][req.owner] = tag
        self.seq += 1
        w = _Waiter(c, (tag, self.seq, wid), req.group, now, now + GRACE_SECONDS)
        bisect.insort(self.queues[c], w.entry)
        self.waiters[wid] = w
        return w

    def _sweep(self, now: float, keep: str) -> None:
        if now < self.next_sweep:
            return
        self.next_sweep = now + 1.0
        for wid in [wid for wid, w in self.waiters.items() if w.expires < now and wid != keep]:
            self.leave(wid)

    def poll(
        self,
        wid: str,
        req: SiteRequest,
        now: float,
        emission: float,
        burst: int,
        share_every: int = DEFAULT_SHARE_EVERY,
    ) -> tuple[bool, float]:
        """Enqueue `wid` on its first poll; grant it the slot if it is its turn and the slot is free.

        Returns (True, seconds waited since the first poll) or (False, the least time until its turn): the
        caller polls again then, or after MAX_POLL_SECONDS if that is sooner.
        """
        self._sweep(now, wid)
        w = self.waiters.get(wid) or self._enqueue(wid, req, now)
        top = next(c for c in range(CLASSES) if self.queues[c])  # w itself waits somewhere
        pick, reserved = top, False
        if share_every > 0 and self.grants % share_every == share_every - 1:
            for i in range(1, CLASSES + 1):
                c = (self.turn + i) % CLASSES
                if c > top and self.queues[c]:
                    pick, reserved = c, True
                    break
        tat = now if self.tat is None or self.tat < now else self.tat
        slot_wait = max(0.0, tat + emission - burst * emission - now)
        if self.queues[pick][0] == w.entry:
            if slot_wait <= 0:
                self.tat = tat + emission
                self.grants += 1
                if reserved:
                    self.turn = pick
                self.vtime[w.cls] = w.entry[0]
                waited = now - w.since
                self.stats.setdefault(w.cls, ClassStats()).add(waited)
                self.leave(wid)
                return True, waited
            hint = slot_wait
        else:
            hint = self._hint(w, top, slot_wait, emission, share_every)
        hint = max(hint, 0.001)
        w.expires = now + min(hint, MAX_POLL_SECONDS) + GRACE_SECONDS
        return False, hint

    def _hint(self, w: _Waiter, top: int, slot_wait: float, emission: float, share_every: int) -> float:
        """A lower bound of the time to w's turn: the slots of everyone served before it at best."""
        rank = bisect.bisect_left(self.queues[w.cls], w.entry)
        higher = sum(len(self.queues[c]) for c in range(w.cls))
        estimate = slot_wait + (higher + rank) * emission
        if w.cls > top and share_every > 0:
            next_turn = (share_every - 1 - self.grants % share_every) % share_every
            estimate = min(estimate, slot_wait + (next_turn + rank * share_every) * emission)
        return max(estimate, emission / 4)


# The same algorithm in Redis. KEYS[1] = the host's key. ARGV: op ('poll' | 'leave'), waiter id, class,
# owner, group, emission (µs), burst, share_every, now (µs; '' = the server's TIME).
# Returns {granted (0/1), µs} — waited µs when granted, else µs until the next poll.
# Keys under KEYS[1]: tat, n (grants), turn, seq, w (waiter → "class|member|group|since"), exp (waiter →
# expiry), q<c> (queue: member = zero-padded seq .. id, score = tag), v<c> (virtual time),
# last<c> (owner → last tag), cnt<c> (group → waiting), stats (per-class counts, waits, histogram).
GRANT_LUA = (
    """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local base = KEYS[1]
local op, wid, cls = ARGV[1], ARGV[2], tonumber(ARGV[3])
local owner, group = ARGV[4], ARGV[5]
local emission, burst, share = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local now
if ARGV[9] ~= '' then now = tonumber(ARGV[9]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) * 1000000 + tonumber(t[2]) end
local C = __CLASSES__
local GRACE = __GRACE__
local MAXPOLL = __MAX_POLL__
local TTL = 3600000
local W, EXP = base .. ':w', base .. ':exp'
local function q(c) return base .. ':q' .. c end
local function fmt(x) return string.format('%d', x) end

local function parse(info)
  local c, member, grp, since = string.match(info, '^(%d+)|([^|]+)|([^|]*)|(%d+)$')
  return tonumber(c), member, grp, tonumber(since)
end

local function remove(id)
  local info = redis.call('HGET', W, id)
  if not info then return end
  local c, member, grp = parse(info)
  redis.call('ZREM', q(c), member)
  if redis.call('HINCRBY', base .. ':cnt' .. c, grp, -1) <= 0 then redis.call('HDEL', base .. ':cnt' .. c, grp) end
  redis.call('HDEL', W, id)
  redis.call('ZREM', EXP, id)
  if redis.call('ZCARD', q(c)) == 0 then redis.call('DEL', base .. ':v' .. c, base .. ':last' .. c) end
end

if op == 'leave' then remove(wid); return {0, 0} end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', EXP, '-inf', '(' .. fmt(now), 'LIMIT', 0, 50)) do
  if id ~= wid then remove(id) end
end

local info = redis.call('HGET', W, wid)
local member, since
if info then
  cls, member, group, since = parse(info)
else
  local n = redis.call('HINCRBY', base .. ':cnt' .. cls, group, 1)
  local v = tonumber(redis.call('GET', base .. ':v' .. cls)) or 0
  local last = tonumber(redis.call('HGET', base .. ':last' .. cls, owner)) or 0
  local tag = math.max(v, last) + n
  redis.call('HSET', base .. ':last' .. cls, owner, fmt(tag))
  local seq = redis.call('INCR', base .. ':seq')
  member = string.format('%015d', seq) .. wid
  since = now
  redis.call('ZADD', q(cls), tag, member)
  redis.call('HSET', W, wid, cls .. '|' .. member .. '|' .. group .. '|' .. fmt(now))
  for _, k in ipairs({W, EXP, q(cls), base .. ':cnt' .. cls, base .. ':last' .. cls, base .. ':seq'}) do
    redis.call('PEXPIRE', k, TTL)
  end
end

local sizes, top = {}, nil
for c = 0, C - 1 do
  sizes[c] = redis.call('ZCARD', q(c))
  if top == nil and sizes[c] > 0 then top = c end
end
local grants = tonumber(redis.call('GET', base .. ':n')) or 0
local turn = tonumber(redis.call('GET', base .. ':turn')) or 0
local pick, reserved = top, false
if share > 0 and grants % share == share - 1 then
  for i = 1, C do
    local c = (turn + i) % C
    if c > top and sizes[c] > 0 then pick = c; reserved = true; break end
  end
end
local tat = tonumber(redis.call('GET', base .. ':tat'))
if tat == nil or tat < now then tat = now end
local slot_wait = math.max(0, tat + emission - burst * emission - now)
local head = redis.call('ZRANGE', q(pick), 0, 0)[1]
local hint
if head == member then
  if slot_wait <= 0 then
    local new_tat = tat + emission
    redis.call('SET', base .. ':tat', fmt(new_tat), 'PX', math.ceil((new_tat - now) / 1000) + TTL)
    redis.call('SET', base .. ':n', fmt(grants + 1), 'PX', TTL)
    if reserved then redis.call('SET', base .. ':turn', fmt(pick), 'PX', TTL) end
    redis.call('SET', base .. ':v' .. cls, fmt(redis.call('ZSCORE', q(cls), member)), 'PX', TTL)
    remove(wid)
    local waited = now - since
    local st = base .. ':stats'
    local bucket = 0
    if waited >= 100000 then bucket = math.min(20, math.floor(math.log(waited / 100000) / math.log(2)) + 1) end
    redis.call('HINCRBY', st, 'count:' .. cls, 1)
    redis.call('HINCRBY', st, 'wait_us:' .. cls, waited)
    if waited > (tonumber(redis.call('HGET', st, 'max_us:' .. cls)) or 0) then
      redis.call('HSET', st, 'max_us:' .. cls, fmt(waited))
    end
    redis.call('HINCRBY', st, 'h:' .. cls .. ':' .. bucket, 1)
    redis.call('PEXPIRE', st, 86400000)
    return {1, fmt(waited)}
  end
  hint = slot_wait
else
  local rank = redis.call('ZRANK', q(cls), member)
  local higher = 0
  for c = 0, cls - 1 do higher = higher + sizes[c] end
  hint = slot_wait + (higher + rank) * emission
  if cls > top and share > 0 then
    local next_turn = (share - 1 - grants % share) % share
    hint = math.min(hint, slot_wait + (next_turn + rank * share) * emission)
  end
  hint = math.max(hint, emission / 4)
end
hint = math.max(hint, 1000)
redis.call('ZADD', EXP, fmt(now + math.min(hint, MAXPOLL) + GRACE), wid)
return {0, fmt(hint)}
""".replace("__CLASSES__", str(CLASSES))
    .replace("__GRACE__", str(int(GRACE_SECONDS * 1e6)))
    .replace("__MAX_POLL__", str(int(MAX_POLL_SECONDS * 1e6)))
)


def stats_from_redis(raw: dict[str, str]) -> dict[int, ClassStats]:
    """Per-class stats from the script's `stats` hash."""
    out: dict[int, ClassStats] = {}
    for name, value in raw.items():
        parts = name.split(":")
        c = int(parts[1])
        s = out.setdefault(c, ClassStats())
        if parts[0] == "count":
            s.count = int(value)
        elif parts[0] == "wait_us":
            s.wait_total = int(value) / 1e6
        elif parts[0] == "max_us":
            s.wait_max = int(value) / 1e6
        elif parts[0] == "h":
            s.buckets[int(parts[2])] = int(value)
    return out
