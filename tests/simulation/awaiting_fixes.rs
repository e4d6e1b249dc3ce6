//! What the checker finds in the controller before the fixes of "never make things worse"
//! (TESTING.md, "Findings before the fixes"). While a rule is listed in RULES_AWAITING_FIXES,
//! `seeds` prints its breaches but does not fail on them, so that this branch stays green on
//! the code before the fixes; every other rule fails a seed as usual.
//!
//! AWAITING THE FIXES: once the fixes are merged, empty RULES_AWAITING_FIXES. Then `seeds`
//! judges every rule, and `seeds_awaiting_the_fixes` requires each seed below to pass (until
//! then it requires each to break its rule: the checker must keep seeing the bug).

/// Rules the controller before the fixes breaks, by the finding they stand for.
pub const RULES_AWAITING_FIXES: &[&str] = &[
    // 1: a shard that takes traffic is explained only by the in-flight mark of the current
    // desired shard and revision (a wiped record with a live shard; an attempt the desired
    // state left on the listener's shard in a first deployment).
    "inv5-traffic",
    // 2: a restarted controller opens a new attempt of the same revision (deploy loop through
    // restarts).
    "inv6-restart",
    // 5: `required` follows the ASG's desired capacity instead of the attempt's.
    "inv1-capacity",
    "inv2-capacity",
    "downtime-capacity",
    // 6: a file edit during a pass does not stop the pass.
    "file",
    // SPEC §4: a change of the desired state after the switch halts instead of switching back.
    "calm-halt-traffic",
    // Invariant 4: off the normal path (a rollback, an abandoned attempt, a listener moved by
    // hand) a shard that took traffic is scaled down without waiting drainDelay.
    "drain",
    // A target group detached from its ASG: at rest the ELB-checked instances still look
    // healthy, and the controller counts them as the shard's healthy targets.
    "honest-detached",
];

/// Seeds that found each finding before the fixes, with the rule each breaks (TESTING.md lists
/// more).
pub const SEEDS_AWAITING_FIXES: &[(u64, &str)] = &[
    // 1: a wiped or deleted record with a live shard (19, 79); an attempt left on the
    // listener's shard in a first deployment (94).
    (19, "inv5-traffic"),
    (79, "inv5-traffic"),
    (94, "inv5-traffic"),
    // 2: restarts open new attempts of the same revision.
    (13, "inv6-restart"),
    (137, "inv6-restart"),
    // 5: switched to, or recorded active, with the ASG's capacity rather than the attempt's.
    (127, "inv1-capacity"),
    (292, "inv1-capacity"),
    (80, "inv2-capacity"),
    // 6: a file edit during a pass.
    (43, "file"),
    (98, "file"),
    // The desired state changed after the switch: a halt instead of a switch back.
    (39, "calm-halt-traffic"),
    (44, "calm-halt-traffic"),
    // No drain after a rollback (12) or for an abandoned attempt that served (10).
    (12, "drain"),
    (10, "drain"),
    // A detached target group counted as healthy targets.
    (218, "honest-detached"),
    (272, "honest-detached"),
];
