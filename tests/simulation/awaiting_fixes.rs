//! What the checker finds in the controller before the fixes of "never make things worse"
//! (TESTING.md, "Findings before the fixes"). While a rule is listed in RULES_AWAITING_FIXES,
//! `seeds` prints its breaches but does not fail on them, so that this branch stays green on
//! the code before the fixes; every other rule fails a seed as usual.
//!
//! The findings are fixed. `seeds_awaiting_the_fixes` requires each seed below to pass,
//! but a seed of a rule still listed, which must break it (the checker keeps seeing the bug
//! until its fix lands; then the rule leaves the list).

/// Rules the controller before the fixes breaks, by the finding they stand for.
/// None: the last one, `drain-resize` (an attempt re-configured to a smaller capacity 7 s after
/// the listener left it), is fixed: invariant 4's drain holds for every scale-down.
pub const RULES_AWAITING_FIXES: &[&str] = &[];

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
    // Found after the fixes.
    (985, "honest-active-mark"),
    (3388, "drain-resize"),
];
