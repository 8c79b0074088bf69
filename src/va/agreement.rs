//! Inter-rater agreement on continuous ratings (one value per rating, e.g. valence of an
//! utterance): Krippendorff's alpha (interval), the one-way ICC(1,1) and ICC(1,k), and, when
//! every rating names its rater, the two-way ICC(A,1) and ICC(C,1) and the pairwise means of
//! Lin's CCC and Pearson r.
//!
//! Conventions, the same in the GUI and `univa agreement`:
//! - A *unit* is what is rated (an utterance and dimension); a unit may have any number of
//!   ratings. `n_units` counts every distinct unit, `n_ratings` every rating.
//! - The one-way ICCs are the ANOVA estimators over all ratings (Shrout & Fleiss 1979, case 1).
//!   With unequal ratings per unit the group size is k0 = (N − Σnᵢ²/N)/(n − 1) (N ratings,
//!   n units), so ICC(1,1) = (MSB − MSW)/(MSB + (k0 − 1)·MSW) and ICC(1,k) = (MSB − MSW)/MSB
//!   is the reliability of the mean of k0 ratings. With equal counts k0 = k.
//! - Krippendorff's alpha uses every unit with at least two ratings (the pairable ones); a unit
//!   rated once is a missing-value pattern, not an error.
//! - The two-way ICCs (McGraw & Wong 1996: ICC(A,1) absolute agreement, ICC(C,1) consistency)
//!   need a complete units × raters table, so they use **complete units only**: the units rated
//!   by every rater. Fewer than two such units is an error that says so.
//! - CCC and Pearson r are computed for each pair of raters over the units both rated, then
//!   averaged over pairs with equal weight; a pair sharing fewer than two units, or where the
//!   statistic is undefined (CCC: both constant and equal; r: either constant), is left out of
//!   that mean. CCC uses 1/n moments, as in Lin (1989).
//!
//! Everything is one pass over the ratings, one at a time ([`RatingSums`]: a file is streamed,
//! never held), keeping per unit its count, mean, sum of squares around the mean (Welford) and
//! range, and with raters each unit's (rater, value) cells: memory grows with units × raters,
//! not with rows. Then O(Σ mᵤ²) for the rater pairs, mᵤ the raters of unit u; all in f64.

pub mod file;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// Below this many units rated at least twice, agreement statistics swing widely from one
/// sample to the next (α over 3 units can read anywhere from −0.5 to 1): shown with a warning.
pub const MIN_RELIABLE_UNITS: usize = 10;

/// The warning to show beside statistics over `pairable_units` units, if they are too few.
pub fn small_sample_warning(pairable_units: usize) -> Option<String> {
    (pairable_units < MIN_RELIABLE_UNITS)
        .then(|| format!("only {pairable_units} units rated twice: unreliable below {MIN_RELIABLE_UNITS}"))
}

/// One rating of one unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Rating {
    pub unit: String,
    /// Who rated; `None` when raters are not identified.
    pub rater: Option<String>,
    pub value: f64,
}

/// Agreement among all ratings. Serialises flat: the rater statistics sit beside the others.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    pub n_units: usize,
    pub n_ratings: usize,
    /// Units with at least two ratings: the ones alpha uses.
    pub n_pairable_units: usize,
    /// Krippendorff's alpha, interval metric.
    pub alpha_interval: f64,
    /// One-way ICC of a single rating.
    pub icc1_1: f64,
    /// One-way ICC of the mean of `k0` ratings.
    pub icc1_k: f64,
    /// The one-way group size: the ratings per unit, or k0 when counts differ.
    pub k0: f64,
    /// `Some` when every rating names its rater.
    #[serde(flatten)]
    pub identified: Option<RaterAgreement>,
}

/// The statistics that need rater identities.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RaterAgreement {
    /// Two-way ICC, absolute agreement, single rating (complete units only).
    pub icc_a1: f64,
    /// Two-way ICC, consistency, single rating (complete units only).
    pub icc_c1: f64,
    /// Lin's CCC, mean over rater pairs.
    pub ccc_pairwise: f64,
    /// Pearson r, mean over rater pairs.
    pub pearson_pairwise: f64,
    pub n_raters: usize,
    /// Units rated by every rater: the ones the two-way ICCs use.
    pub n_complete_units: usize,
    /// Rater pairs in the CCC and Pearson means.
    pub n_ccc_pairs: usize,
    pub n_pearson_pairs: usize,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AgreementError {
    #[error("there are no ratings")]
    NoRatings,
    #[error("rating {index} (unit {unit:?}) has the value {value}, which is not a finite number")]
    NotFinite { index: usize, unit: String, value: f64 },
    #[error("only {units} unit(s): agreement needs at least 2 rated units")]
    TooFewUnits { units: usize },
    #[error("every one of the {units} units has a single rating: agreement needs units rated at least twice")]
    OneRatingPerUnit { units: usize },
    #[error("all {ratings} ratings are {value}: with no variance, agreement is undefined")]
    NoVariance { ratings: usize, value: f64 },
    #[error("{statistic} is undefined: {why}")]
    Undefined { statistic: &'static str, why: &'static str },
    #[error("only one rater ({rater:?}): agreement between raters needs at least 2")]
    OneRater { rater: String },
    /// `first` and `second` index the ratings slice.
    #[error("rater {rater:?} rated unit {unit:?} twice")]
    DuplicateRating { rater: String, unit: String, first: usize, second: usize },
    #[error(
        "only {complete} unit(s) are rated by all {raters} raters: the two-way ICCs use complete units only and need at least 2"
    )]
    TooFewCompleteUnits { complete: usize, raters: usize },
    #[error("no pair of raters has a defined {statistic} (each pair needs 2 shared units that vary)")]
    NoRaterPairs { statistic: &'static str },
}

/// One statistic on some ratings: its value, or why it is undefined on them.
pub type Stat = Result<f64, AgreementError>;

/// Agreement with each statistic on its own, for reports that print every one that is
/// defined (`univa agreement`): what makes every statistic meaningless (no ratings, fewer than
/// 2 units, no unit rated twice, no variance at all, one rater, a rater twice on a unit) is
/// still an error of the whole.
#[derive(Debug, PartialEq)]
pub struct AgreementReport {
    pub n_units: usize,
    pub n_ratings: usize,
    pub n_pairable_units: usize,
    pub k0: f64,
    pub alpha_interval: Stat,
    pub icc1_1: Stat,
    pub icc1_k: Stat,
    /// `Some` when every rating names its rater.
    pub raters: Option<RaterReport>,
}

/// The statistics that need rater identities, each on its own.
#[derive(Debug, PartialEq)]
pub struct RaterReport {
    pub n_raters: usize,
    pub n_complete_units: usize,
    pub n_ccc_pairs: usize,
    pub n_pearson_pairs: usize,
    pub icc_a1: Stat,
    pub icc_c1: Stat,
    pub ccc_pairwise: Stat,
    pub pearson_pairwise: Stat,
}

impl AgreementReport {
    /// The statistics as one [`Agreement`], or the first that is undefined: the rater
    /// statistics first ("one rater" and the like are the clearer message), then the one-way
    /// ICCs, then alpha.
    pub fn into_agreement(self) -> Result<Agreement, AgreementError> {
        let identified = match self.raters {
            Some(r) => Some(RaterAgreement {
                icc_c1: r.icc_c1?,
                icc_a1: r.icc_a1?,
                ccc_pairwise: r.ccc_pairwise?,
                pearson_pairwise: r.pearson_pairwise?,
                n_raters: r.n_raters,
                n_complete_units: r.n_complete_units,
                n_ccc_pairs: r.n_ccc_pairs,
                n_pearson_pairs: r.n_pearson_pairs,
            }),
            None => None,
        };
        let (icc1_1, icc1_k) = (self.icc1_1?, self.icc1_k?);
        Ok(Agreement {
            n_units: self.n_units,
            n_ratings: self.n_ratings,
            n_pairable_units: self.n_pairable_units,
            alpha_interval: self.alpha_interval?,
            icc1_1,
            icc1_k,
            k0: self.k0,
            identified,
        })
    }
}

/// Every agreement statistic of `ratings` on its own (see [`AgreementReport`]).
pub fn agreement_report(ratings: &[Rating]) -> Result<AgreementReport, AgreementError> {
    let mut sums = RatingSums::default();
    for r in ratings {
        sums.push(&r.unit, r.rater.as_deref(), r.value);
    }
    sums.report()
}

/// All the agreement statistics of `ratings`; the rater statistics when every rating names
/// its rater. Degenerate input (no ratings, fewer than 2 units, no unit rated twice, no
/// variance, one rater) is an error, never NaN, and so is any one statistic that is undefined
/// ([`agreement_report`] gives the others). When only the rater statistics fail (e.g. fewer
/// than 2 units rated by every rater), the same ratings with `rater: None` still give the rest.
pub fn agreement(ratings: &[Rating]) -> Result<Agreement, AgreementError> {
    agreement_report(ratings)?.into_agreement()
}

/// One unit's ratings so far: their count, mean and sum of squares around the mean (Welford's
/// update), and their range.
#[derive(Clone, Copy, Debug)]
struct UnitSums {
    n: usize,
    mean: f64,
    m2: f64,
    lo: f64,
    hi: f64,
}

impl Default for UnitSums {
    fn default() -> Self {
        Self { n: 0, mean: 0.0, m2: 0.0, lo: f64::INFINITY, hi: f64::NEG_INFINITY }
    }
}

impl UnitSums {
    fn push(&mut self, value: f64) {
        self.n += 1;
        let delta = value - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (value - self.mean);
        self.lo = self.lo.min(value);
        self.hi = self.hi.max(value);
    }

    fn of(values: &[f64]) -> Self {
        let mut sums = Self::default();
        for &v in values {
            sums.push(v);
        }
        sums
    }
}

/// Count, range, and mean and sum of squares around it, of the values of several units
/// together (the parallel form of Welford's update).
fn pooled<'a>(units: impl Iterator<Item = &'a UnitSums>) -> UnitSums {
    let mut all = UnitSums::default();
    for u in units.filter(|u| u.n > 0) {
        let n = all.n + u.n;
        let delta = u.mean - all.mean;
        all.mean += delta * u.n as f64 / n as f64;
        all.m2 += u.m2 + delta * delta * (all.n as f64 * u.n as f64 / n as f64);
        all.n = n;
        all.lo = all.lo.min(u.lo);
        all.hi = all.hi.max(u.hi);
    }
    all
}

/// Fails when the pooled values are all the same; otherwise returns their count.
fn check_pooled_variance(all: &UnitSums) -> Result<usize, AgreementError> {
    if all.n > 0 && all.lo == all.hi {
        Err(AgreementError::NoVariance { ratings: all.n, value: all.lo })
    } else {
        Ok(all.n)
    }
}

/// One rating by an identified rater, kept for the two-way ICCs and the rater pairs.
#[derive(Clone, Copy, Debug)]
struct Cell {
    rater: usize,
    /// The rating's index in the order pushed.
    index: usize,
    value: f64,
}

/// Agreement statistics gathered one rating at a time, so a file of any length is read
/// without holding its rows: per unit its count, mean, sum of squares and range (all the
/// one-way ICCs and alpha need) and, while every rating names its rater, the unit's
/// (rater, value) cells (the two-way ICCs and rater pairs). Memory grows with units × raters,
/// the names of units and raters held once each. [`agreement_report`] is this over a slice.
#[derive(Debug, Default)]
pub struct RatingSums {
    unit_index: HashMap<Box<str>, usize>,
    units: Vec<UnitSums>,
    rater_index: HashMap<Box<str>, usize>,
    /// Per unit its cells; `None` once a rating names no rater.
    cells: Option<Vec<Vec<Cell>>>,
    n_ratings: usize,
    /// The first rating whose value is not a finite number.
    not_finite: Option<(usize, String, f64)>,
}

/// The index of `name`, added at the end when new.
fn index_of(index: &mut HashMap<Box<str>, usize>, name: &str) -> usize {
    if let Some(&i) = index.get(name) {
        return i;
    }
    let i = index.len();
    index.insert(name.into(), i);
    i
}

/// The name with index `i`.
fn name_of(index: &HashMap<Box<str>, usize>, i: usize) -> String {
    index.iter().find(|&(_, &j)| j == i).map(|(name, _)| name.to_string()).unwrap_or_default()
}

impl RatingSums {
    /// Adds one rating of `unit` (by `rater`, when raters are identified).
    pub fn push(&mut self, unit: &str, rater: Option<&str>, value: f64) {
        let index = self.n_ratings;
        self.n_ratings += 1;
        if !value.is_finite() {
            if self.not_finite.is_none() {
                self.not_finite = Some((index, unit.to_owned(), value));
            }
            return;
        }
        if self.n_ratings == 1 && rater.is_some() {
            self.cells = Some(Vec::new());
        }
        let u = index_of(&mut self.unit_index, unit);
        if u == self.units.len() {
            self.units.push(UnitSums::default());
        }
        self.units[u].push(value);
        match (rater, &mut self.cells) {
            (Some(rater), Some(cells)) => {
                let rater = index_of(&mut self.rater_index, rater);
                if u == cells.len() {
                    // Room for one rating by each rater known so far: most units need no more.
                    cells.push(Vec::with_capacity(self.rater_index.len()));
                }
                cells[u].push(Cell { rater, index, value });
            }
            (None, Some(_)) => {
                // Unidentified from here on: the cells are not needed.
                self.cells = None;
                self.rater_index = HashMap::new();
            }
            _ => {}
        }
    }

    /// Every statistic of the ratings pushed, each on its own (see [`AgreementReport`]).
    pub fn report(self) -> Result<AgreementReport, AgreementError> {
        if self.n_ratings == 0 {
            return Err(AgreementError::NoRatings);
        }
        if let Some((index, unit, value)) = self.not_finite {
            return Err(AgreementError::NotFinite { index, unit, value });
        }
        // Rater checks first: "one rater" is the clearer message when it applies.
        let raters = match self.cells {
            Some(cells) => Some(rater_report(cells, &self.unit_index, &self.rater_index)?),
            None => None,
        };
        let (icc1_1, icc1_k, k0) = one_way_parts(&self.units)?;
        Ok(AgreementReport {
            n_units: self.units.len(),
            n_ratings: self.n_ratings,
            n_pairable_units: self.units.iter().filter(|u| u.n >= 2).count(),
            k0,
            alpha_interval: alpha_of(&self.units),
            icc1_1,
            icc1_k,
            raters,
        })
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn sum_sq_around(values: &[f64], centre: f64) -> f64 {
    values.iter().map(|v| (v - centre) * (v - centre)).sum()
}

/// Fails when every value is the same; otherwise returns their count.
fn check_variance<'a>(values: impl Iterator<Item = &'a f64>) -> Result<usize, AgreementError> {
    let (mut n, mut lo, mut hi) = (0usize, f64::INFINITY, f64::NEG_INFINITY);
    for &v in values {
        n += 1;
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if n > 0 && lo == hi { Err(AgreementError::NoVariance { ratings: n, value: lo }) } else { Ok(n) }
}

/// `num / den`, or an error when the denominator is zero on the data's scale (`scale`, a
/// variance) or the result is not finite.
fn ratio(num: f64, den: f64, scale: f64, statistic: &'static str, why: &'static str) -> Result<f64, AgreementError> {
    let value = num / den;
    if den.abs() <= 1e-12 * scale || !value.is_finite() {
        return Err(AgreementError::Undefined { statistic, why });
    }
    Ok(value)
}

/// The one-way random-effects ICCs of ratings grouped by unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneWay {
    pub icc1_1: f64,
    pub icc1_k: f64,
    pub k0: f64,
}

/// ICC(1,1) and ICC(1,k) by the one-way ANOVA estimator; `units[u]` holds unit u's ratings
/// (any number, at least one). See the module docs for k0.
pub fn one_way(units: &[Vec<f64>]) -> Result<OneWay, AgreementError> {
    let sums: Vec<UnitSums> = units.iter().map(|u| UnitSums::of(u)).collect();
    let (icc1_1, icc1_k, k0) = one_way_parts(&sums)?;
    Ok(OneWay { icc1_1: icc1_1?, icc1_k: icc1_k?, k0 })
}

/// ICC(1,1), ICC(1,k) each on its own, and k0; an error when no one-way statistic can be had.
fn one_way_parts(units: &[UnitSums]) -> Result<(Stat, Stat, f64), AgreementError> {
    let all = pooled(units.iter());
    let n_total = check_pooled_variance(&all)?;
    let n_units = units.iter().filter(|u| u.n > 0).count();
    if n_total == 0 {
        return Err(AgreementError::NoRatings);
    }
    if n_units < 2 {
        return Err(AgreementError::TooFewUnits { units: n_units });
    }
    if n_total == n_units {
        return Err(AgreementError::OneRatingPerUnit { units: n_units });
    }
    let grand = all.mean;
    let (mut ss_between, mut ss_within, mut sum_n_sq) = (0.0, 0.0, 0.0);
    for u in units.iter().filter(|u| u.n > 0) {
        ss_between += u.n as f64 * (u.mean - grand) * (u.mean - grand);
        ss_within += u.m2;
        sum_n_sq += (u.n * u.n) as f64;
    }
    let (n, big_n) = (n_units as f64, n_total as f64);
    let ms_between = ss_between / (n - 1.0);
    let ms_within = ss_within / (big_n - n);
    let k0 = (big_n - sum_n_sq / big_n) / (n - 1.0);
    let scale = (ss_between + ss_within) / (big_n - 1.0);
    let icc1_1 = ratio(
        ms_between - ms_within,
        ms_between + (k0 - 1.0) * ms_within,
        scale,
        "ICC(1,1)",
        "MSB + (k0 − 1)·MSW is 0",
    );
    let icc1_k = ratio(ms_between - ms_within, ms_between, scale, "ICC(1,k)", "the unit means do not differ (MSB = 0)");
    Ok((icc1_1, icc1_k, k0))
}

/// Krippendorff's alpha with the interval metric (squared difference); `units[u]` holds unit
/// u's ratings, any number, so missing values are simply absent. Units with fewer than two
/// ratings are not pairable and are left out.
///
/// With nᵤ ratings in unit u, n.. = Σnᵤ over pairable units, SSᵤ the unit's sum of squares
/// around its mean and SSₜ that of all pairable values around theirs, the coincidence-matrix
/// definition reduces to α = 1 − (n.. − 1)·Σᵤ[nᵤ·SSᵤ/(nᵤ − 1)] / (n..·SSₜ): per-unit count,
/// mean and sum of squares are all it needs.
pub fn krippendorff_alpha_interval(units: &[Vec<f64>]) -> Result<f64, AgreementError> {
    let sums: Vec<UnitSums> = units.iter().map(|u| UnitSums::of(u)).collect();
    alpha_of(&sums)
}

fn alpha_of(units: &[UnitSums]) -> Result<f64, AgreementError> {
    let pairable = pooled(units.iter().filter(|u| u.n >= 2));
    if pairable.n == 0 {
        let n_units = units.iter().filter(|u| u.n > 0).count();
        return Err(if n_units == 0 {
            AgreementError::NoRatings
        } else {
            AgreementError::OneRatingPerUnit { units: n_units }
        });
    }
    let n_pairable = check_pooled_variance(&pairable)? as f64;
    let ss_total = pairable.m2;
    let observed: f64 = units
        .iter()
        .filter(|u| u.n >= 2)
        .map(|u| {
            let m = u.n as f64;
            m * u.m2 / (m - 1.0)
        })
        .sum();
    let disagreement = ratio(
        (n_pairable - 1.0) * observed,
        n_pairable * ss_total,
        n_pairable * ss_total / (n_pairable - 1.0),
        "Krippendorff's alpha",
        "the pairable values do not vary",
    )?;
    Ok(1.0 - disagreement)
}

/// Running means and co-moments of paired values (Welford's update, so constant input gives
/// exact zeros and large offsets lose no precision).
#[derive(Clone, Copy, Debug, Default)]
struct Moments {
    n: usize,
    mean_x: f64,
    mean_y: f64,
    m2_x: f64,
    m2_y: f64,
    c_xy: f64,
}

impl Moments {
    fn push(&mut self, x: f64, y: f64) {
        self.n += 1;
        let n = self.n as f64;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / n;
        self.mean_y += dy / n;
        self.m2_x += dx * (x - self.mean_x);
        self.m2_y += dy * (y - self.mean_y);
        self.c_xy += dx * (y - self.mean_y);
    }

    fn ccc(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let d = self.mean_x - self.mean_y;
        let den = self.m2_x / n + self.m2_y / n + d * d;
        let value = 2.0 * (self.c_xy / n) / den;
        (den > 0.0 && value.is_finite()).then_some(value)
    }

    fn pearson(&self) -> Option<f64> {
        if self.n < 2 || self.m2_x <= 0.0 || self.m2_y <= 0.0 {
            return None;
        }
        // Rounding can push |r| a hair past 1.
        Some((self.c_xy / (self.m2_x.sqrt() * self.m2_y.sqrt())).clamp(-1.0, 1.0))
    }

    fn of(x: &[f64], y: &[f64]) -> Option<Self> {
        if x.len() != y.len() || x.iter().chain(y).any(|v| !v.is_finite()) {
            return None;
        }
        let mut m = Self::default();
        for (&a, &b) in x.iter().zip(y) {
            m.push(a, b);
        }
        Some(m)
    }
}

/// Lin's concordance correlation coefficient, 2·s_xy / (s_x² + s_y² + (x̄ − ȳ)²) with 1/n
/// moments. `None` for unequal lengths, fewer than 2 pairs, non-finite values, or when both
/// series are constant and equal (0/0).
pub fn ccc(x: &[f64], y: &[f64]) -> Option<f64> {
    Moments::of(x, y)?.ccc()
}

/// Pearson's r. `None` for unequal lengths, fewer than 2 pairs, non-finite values, or a
/// constant series.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    Moments::of(x, y)?.pearson()
}

/// The two-way ICCs and pairwise CCC/Pearson means, every rating having a rater, each on its
/// own; `cells[u]` holds unit u's ratings.
fn rater_report(
    mut cells: Vec<Vec<Cell>>,
    unit_index: &HashMap<Box<str>, usize>,
    rater_index: &HashMap<Box<str>, usize>,
) -> Result<RaterReport, AgreementError> {
    let n_raters = rater_index.len();
    if n_raters < 2 {
        // The first rating's rater is rater 0.
        return Err(AgreementError::OneRater { rater: name_of(rater_index, 0) });
    }
    // Each unit's ratings sorted by rater (then by order); a rater twice on a unit is an error.
    for (u, unit) in cells.iter_mut().enumerate() {
        unit.sort_unstable_by_key(|c| (c.rater, c.index));
        if let Some(w) = unit.windows(2).find(|w| w[0].rater == w[1].rater) {
            return Err(AgreementError::DuplicateRating {
                rater: name_of(rater_index, w[0].rater),
                unit: name_of(unit_index, u),
                first: w[0].index,
                second: w[1].index,
            });
        }
    }
    let (icc_a1, icc_c1, n_complete_units) = two_way(&cells, n_raters);
    // Rater pairs in a sorted map, so the means add up in one fixed order.
    let mut pairs: BTreeMap<(usize, usize), Moments> = BTreeMap::new();
    for unit in &cells {
        for (a, ca) in unit.iter().enumerate() {
            for cb in &unit[a + 1..] {
                pairs.entry((ca.rater, cb.rater)).or_default().push(ca.value, cb.value);
            }
        }
    }
    let pair_mean = |statistic: &'static str, f: fn(&Moments) -> Option<f64>| {
        let values: Vec<f64> = pairs.values().filter_map(f).collect();
        let mean = if values.is_empty() { Err(AgreementError::NoRaterPairs { statistic }) } else { Ok(mean(&values)) };
        (mean, values.len())
    };
    let (ccc_pairwise, n_ccc_pairs) = pair_mean("CCC", Moments::ccc);
    let (pearson_pairwise, n_pearson_pairs) = pair_mean("Pearson r", Moments::pearson);
    Ok(RaterReport {
        icc_a1,
        icc_c1,
        ccc_pairwise,
        pearson_pairwise,
        n_raters,
        n_complete_units,
        n_ccc_pairs,
        n_pearson_pairs,
    })
}

/// ICC(A,1) and ICC(C,1) (McGraw & Wong 1996, two-way) over the units rated by all `k` raters,
/// and how many those are; `cells` holds each unit's ratings sorted by rater, no rater twice.
fn two_way(cells: &[Vec<Cell>], k: usize) -> (Stat, Stat, usize) {
    // Complete rows in rater order: row i is `table[i * k..(i + 1) * k]`.
    let table: Vec<f64> = cells.iter().filter(|unit| unit.len() == k).flatten().map(|c| c.value).collect();
    let n = table.len() / k;
    if n < 2 {
        let too_few = || Err(AgreementError::TooFewCompleteUnits { complete: n, raters: k });
        return (too_few(), too_few(), n);
    }
    if check_variance(table.iter()).is_err() {
        let flat = || {
            Err(AgreementError::Undefined {
                statistic: "ICC(A,1) and ICC(C,1)",
                why: "the ratings of the complete units do not vary",
            })
        };
        return (flat(), flat(), n);
    }
    let grand = mean(&table);
    let ss_total = sum_sq_around(&table, grand);
    let ss_rows: f64 = table.chunks_exact(k).map(|row| k as f64 * (mean(row) - grand).powi(2)).sum();
    let mut col_sums = vec![0.0; k];
    for row in table.chunks_exact(k) {
        for (s, v) in col_sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    let ss_cols: f64 = col_sums.iter().map(|s| n as f64 * (s / n as f64 - grand).powi(2)).sum();
    let ss_error = (ss_total - ss_rows - ss_cols).max(0.0);
    let (nf, kf) = (n as f64, k as f64);
    let ms_rows = ss_rows / (nf - 1.0);
    let ms_cols = ss_cols / (kf - 1.0);
    let ms_error = ss_error / ((nf - 1.0) * (kf - 1.0));
    let scale = ss_total / (nf * kf - 1.0);
    let icc_c1 = ratio(
        ms_rows - ms_error,
        ms_rows + (kf - 1.0) * ms_error,
        scale,
        "ICC(C,1)",
        "MSR + (k − 1)·MSE is 0 on the complete units",
    );
    let icc_a1 = ratio(
        ms_rows - ms_error,
        ms_rows + (kf - 1.0) * ms_error + kf * (ms_cols - ms_error) / nf,
        scale,
        "ICC(A,1)",
        "its denominator is 0 on the complete units",
    );
    (icc_a1, icc_c1, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unrated(rows: &[(&str, f64)]) -> Vec<Rating> {
        rows.iter().map(|&(unit, value)| Rating { unit: unit.into(), rater: None, value }).collect()
    }

    fn rated(rows: &[(&str, &str, f64)]) -> Vec<Rating> {
        rows.iter()
            .map(|&(unit, rater, value)| Rating { unit: unit.into(), rater: Some(rater.into()), value })
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    /// Random ratings of `n_units` units by `n_raters` raters (named when `named`), each
    /// rating present with probability `present` (the rest missing), in shuffled order so a
    /// unit's ratings are spread over the list; values on a 1–9 scale with a unit effect.
    pub(crate) fn random_ratings(seed: u64, n_units: usize, n_raters: usize, present: f64, named: bool) -> Vec<Rating> {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let bias: Vec<f64> = (0..n_raters).map(|_| rng.random::<f64>() - 0.5).collect();
        let mut out = Vec::new();
        for u in 0..n_units {
            let effect = 3.0 * rng.random::<f64>();
            for (j, b) in bias.iter().enumerate() {
                if rng.random_bool(present) {
                    let value = 3.0 + effect + b + rng.random::<f64>();
                    let rater = named.then(|| format!("rater{j}"));
                    out.push(Rating { unit: format!("utt{u}"), rater, value });
                }
            }
        }
        out.shuffle(&mut rng);
        out
    }

    /// Relative agreement to 1e-12.
    fn same(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs()
    }

    /// The statistics by the two-pass textbook formulas over the ratings held in memory (what
    /// the one-pass sums replace): alpha, ICC(1,1), ICC(1,k), k0, and with raters ICC(A,1),
    /// ICC(C,1) and the pairwise CCC and Pearson means.
    fn two_pass(ratings: &[Rating]) -> (Vec<f64>, usize) {
        let mut order: Vec<&str> = Vec::new();
        let mut by_unit: HashMap<&str, Vec<&Rating>> = HashMap::new();
        for r in ratings {
            by_unit.entry(&r.unit).or_insert_with(|| {
                order.push(&r.unit);
                Vec::new()
            });
            by_unit.get_mut(r.unit.as_str()).unwrap().push(r);
        }
        let units: Vec<Vec<f64>> = order.iter().map(|u| by_unit[u].iter().map(|r| r.value).collect()).collect();
        let all: Vec<f64> = units.iter().flatten().copied().collect();
        let (n, big_n) = (units.len() as f64, all.len() as f64);
        let grand = mean(&all);
        let ssb: f64 = units.iter().map(|u| u.len() as f64 * (mean(u) - grand).powi(2)).sum();
        let ssw: f64 = units.iter().map(|u| sum_sq_around(u, mean(u))).sum();
        let k0 = (big_n - units.iter().map(|u| (u.len() * u.len()) as f64).sum::<f64>() / big_n) / (n - 1.0);
        let (msb, msw) = (ssb / (n - 1.0), ssw / (big_n - n));
        let pairable: Vec<f64> = units.iter().filter(|u| u.len() >= 2).flatten().copied().collect();
        let np = pairable.len() as f64;
        let observed: f64 = units
            .iter()
            .filter(|u| u.len() >= 2)
            .map(|u| u.len() as f64 * sum_sq_around(u, mean(u)) / (u.len() as f64 - 1.0))
            .sum();
        let alpha = 1.0 - (np - 1.0) * observed / (np * sum_sq_around(&pairable, mean(&pairable)));
        let mut out = vec![alpha, (msb - msw) / (msb + (k0 - 1.0) * msw), (msb - msw) / msb, k0];
        if ratings.iter().any(|r| r.rater.is_none()) {
            return (out, 0);
        }
        let mut raters: Vec<&str> = Vec::new();
        for r in ratings {
            let name = r.rater.as_deref().unwrap();
            if !raters.contains(&name) {
                raters.push(name);
            }
        }
        let cell =
            |u: &str, rater: &str| by_unit[u].iter().find(|r| r.rater.as_deref() == Some(rater)).map(|r| r.value);
        let k = raters.len();
        let rows: Vec<Vec<f64>> =
            order.iter().filter_map(|u| raters.iter().map(|j| cell(u, j)).collect::<Option<Vec<f64>>>()).collect();
        let (nf, kf) = (rows.len() as f64, k as f64);
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let g = mean(&flat);
        let ss_rows: f64 = rows.iter().map(|row| kf * (mean(row) - g).powi(2)).sum();
        let ss_cols: f64 = (0..k).map(|j| nf * (rows.iter().map(|row| row[j]).sum::<f64>() / nf - g).powi(2)).sum();
        let ss_error = sum_sq_around(&flat, g) - ss_rows - ss_cols;
        let (msr, msc, mse) = (ss_rows / (nf - 1.0), ss_cols / (kf - 1.0), ss_error / ((nf - 1.0) * (kf - 1.0)));
        out.push((msr - mse) / (msr + (kf - 1.0) * mse + kf * (msc - mse) / nf));
        out.push((msr - mse) / (msr + (kf - 1.0) * mse));
        let (mut cccs, mut rs) = (Vec::new(), Vec::new());
        for a in 0..k {
            for b in a + 1..k {
                let (x, y): (Vec<f64>, Vec<f64>) =
                    order.iter().filter_map(|u| Some((cell(u, raters[a])?, cell(u, raters[b])?))).unzip();
                cccs.extend(ccc(&x, &y));
                rs.extend(pearson(&x, &y));
            }
        }
        out.extend([mean(&cccs), mean(&rs)]);
        (out, rows.len())
    }

    #[test]
    fn one_pass_sums_match_the_two_pass_formulas_on_random_data_with_missing_values() {
        for (seed, named) in [(1, false), (2, true), (3, true), (4, false)] {
            let ratings = random_ratings(seed, 80, 5, 0.7, named);
            let (want, complete) = two_pass(&ratings);
            let got = agreement(&ratings).unwrap();
            let mut figures = vec![got.alpha_interval, got.icc1_1, got.icc1_k, got.k0];
            assert_eq!(got.identified.is_some(), named);
            if let Some(r) = &got.identified {
                figures.extend([r.icc_a1, r.icc_c1, r.ccc_pairwise, r.pearson_pairwise]);
                assert_eq!((r.n_complete_units, r.n_raters), (complete, 5));
            }
            assert_eq!(figures.len(), want.len());
            for (i, (g, w)) in figures.iter().zip(&want).enumerate() {
                assert!(same(*g, *w), "seed {seed}, figure {i}: one pass {g}, two passes {w}");
            }
            // Pushed one rating at a time by hand: the same as over the slice.
            let mut sums = RatingSums::default();
            for r in &ratings {
                sums.push(&r.unit, r.rater.as_deref(), r.value);
            }
            assert_eq!(sums.report().unwrap(), agreement_report(&ratings).unwrap());
        }
    }

    /// Shrout & Fleiss (1979), Table 2: 6 targets × 4 judges, with their published ICCs.
    #[rustfmt::skip]
    const SHROUT_FLEISS: [[f64; 4]; 6] = [
        [9.0, 2.0, 5.0, 8.0],
        [6.0, 1.0, 3.0, 2.0],
        [8.0, 4.0, 6.0, 8.0],
        [7.0, 1.0, 2.0, 6.0],
        [10.0, 5.0, 6.0, 9.0],
        [6.0, 2.0, 4.0, 7.0],
    ];

    fn shrout_fleiss() -> Vec<Rating> {
        let mut out = Vec::new();
        for (t, row) in SHROUT_FLEISS.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                out.push(Rating { unit: format!("t{t}"), rater: Some(format!("j{j}")), value: v });
            }
        }
        out
    }

    #[test]
    fn shrout_fleiss_table_reproduces_the_published_iccs() {
        // Published (to 2 decimals): ICC(1,1) .17, ICC(2,1) .29, ICC(3,1) .71, ICC(1,4) .44.
        // Exact from the ANOVA table (BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02, 6×4):
        let a = agreement(&shrout_fleiss()).unwrap();
        let (bms, wms) = (56.208_333_333_333_33 / 5.0, 112.75 / 18.0);
        assert!(close(a.icc1_1, (bms - wms) / (bms + 3.0 * wms)), "{}", a.icc1_1);
        assert!(close(a.icc1_k, (bms - wms) / bms));
        assert_eq!(format!("{:.2} {:.2}", a.icc1_1, a.icc1_k), "0.17 0.44");
        let r = a.identified.unwrap();
        assert_eq!(format!("{:.2} {:.2}", r.icc_a1, r.icc_c1), "0.29 0.71");
        assert_eq!((r.n_raters, r.n_complete_units, a.k0), (4, 6, 4.0));
    }

    #[test]
    fn one_way_unbalanced_uses_k0() {
        // Units a: 1, 3; b: 4, 6, 8; c: 9. N = 6, n = 3, Σnᵢ² = 14, k0 = (6 − 14/6)/2 = 11/6.
        // Grand mean 31/6; unit means 2, 6, 9. SSB = 2(2 − 31/6)² + 3(6 − 31/6)² + (9 − 31/6)²
        // = (722 + 75 + 529)/36 = 221/6; SSW = 2 + 8 = 10. MSB = 221/12, MSW = 10/3.
        let units = vec![vec![1.0, 3.0], vec![4.0, 6.0, 8.0], vec![9.0]];
        let got = one_way(&units).unwrap();
        let (msb, msw, k0) = (221.0 / 12.0, 10.0 / 3.0, 11.0 / 6.0);
        assert!(close(got.k0, k0));
        assert!(close(got.icc1_1, (msb - msw) / (msb + (k0 - 1.0) * msw)), "{got:?}");
        assert!(close(got.icc1_k, (msb - msw) / msb));
    }

    #[test]
    fn alpha_interval_matches_a_hand_computed_coincidence_sum() {
        // Units a: 1, 2; b: 3, 3, 5; c: 4 (not pairable). Pairable values 1, 2, 3, 3, 5: n.. = 5.
        // D_o = (1/5)[(1/1)·2·1² + (1/2)·2·(0² + 2² + 2²)] = (2 + 8)/5 = 2.
        // D_e = Σ_{i≠j}(vᵢ − vⱼ)² / (5·4) = 2·(5·Σv² − (Σv)²)/20 = 2·(5·48 − 196)/20 = 4.4.
        let units = vec![vec![1.0, 2.0], vec![3.0, 3.0, 5.0], vec![4.0]];
        assert!(close(krippendorff_alpha_interval(&units).unwrap(), 1.0 - 2.0 / 4.4));
        // Perfect agreement within units gives 1.
        assert!(close(krippendorff_alpha_interval(&[vec![1.0, 1.0], vec![4.0, 4.0, 4.0]]).unwrap(), 1.0));
    }

    #[test]
    fn ccc_and_pearson_on_small_series() {
        let x = [1.0, 2.0, 3.0];
        let y = [2.0, 3.0, 4.0];
        // Shifted by one: r = 1, CCC = 2·(2/3) / (2/3 + 2/3 + 1) = 4/7.
        assert!(close(pearson(&x, &y).unwrap(), 1.0));
        assert!(close(ccc(&x, &y).unwrap(), 4.0 / 7.0));
        assert!(close(ccc(&x, &x).unwrap(), 1.0));
        let reversed = [3.0, 2.0, 1.0];
        assert!(close(pearson(&x, &reversed).unwrap(), -1.0));
        assert!(close(ccc(&x, &reversed).unwrap(), -1.0));
        // A large offset loses no precision.
        let far: Vec<f64> = x.iter().map(|v| v + 1e9).collect();
        let far_y: Vec<f64> = y.iter().map(|v| v + 1e9).collect();
        assert!((ccc(&far, &far_y).unwrap() - 4.0 / 7.0).abs() < 1e-9);
        // Undefined cases.
        assert_eq!(pearson(&x, &[5.0, 5.0, 5.0]), None);
        assert!(close(ccc(&x, &[2.0, 2.0, 2.0]).unwrap(), 0.0));
        assert_eq!(ccc(&[2.0, 2.0], &[2.0, 2.0]), None);
        assert_eq!(ccc(&[1.0], &[1.0]), None);
        assert_eq!(pearson(&x, &y[..2]), None);
        assert_eq!(ccc(&[1.0, f64::NAN], &[1.0, 2.0]), None);
    }

    #[test]
    fn pairwise_means_use_the_units_each_pair_shares() {
        // Raters p, q share u1..u3 (q = p + 1); p, r share u1, u2 (equal); q, r share u1, u2;
        // u4 has only r. Pair (p,q): r 1, CCC 4/7. (p,r): 1, 1. (q,r): x = 2,3 vs 1,2: r 1,
        // CCC = 2·0.25/(0.25 + 0.25 + 1) = 1/3.
        let ratings = rated(&[
            ("u1", "p", 1.0),
            ("u1", "q", 2.0),
            ("u1", "r", 1.0),
            ("u2", "p", 2.0),
            ("u2", "q", 3.0),
            ("u2", "r", 2.0),
            ("u3", "p", 3.0),
            ("u3", "q", 4.0),
            ("u4", "r", 5.0),
        ]);
        let r = agreement(&ratings).unwrap().identified.unwrap();
        assert!(close(r.pearson_pairwise, 1.0));
        assert!(close(r.ccc_pairwise, (4.0 / 7.0 + 1.0 + 1.0 / 3.0) / 3.0), "{r:?}");
        assert_eq!((r.n_ccc_pairs, r.n_pearson_pairs, r.n_complete_units, r.n_raters), (3, 3, 2, 3));
    }

    #[test]
    fn two_way_uses_complete_units_only() {
        // The Shrout–Fleiss table plus a unit one judge skipped: same two-way ICCs.
        let mut ratings = shrout_fleiss();
        let full = agreement(&ratings).unwrap().identified.unwrap();
        ratings.extend(rated(&[("extra", "j0", 1.0), ("extra", "j1", 10.0), ("extra", "j2", 3.0)]));
        let partial = agreement(&ratings).unwrap().identified.unwrap();
        assert_eq!((partial.icc_a1, partial.icc_c1, partial.n_complete_units), (full.icc_a1, full.icc_c1, 6));
        // Only one complete unit: a clear error.
        let err = agreement(&rated(&[("a", "x", 1.0), ("a", "y", 2.0), ("b", "x", 3.0), ("c", "y", 4.0)])).unwrap_err();
        assert_eq!(err, AgreementError::TooFewCompleteUnits { complete: 1, raters: 2 });
        assert!(err.to_string().contains("complete units only"), "{err}");
    }

    #[test]
    fn unidentified_ratings_skip_the_rater_statistics() {
        let a = agreement(&unrated(&[("a", 1.0), ("a", 2.0), ("b", 4.0), ("b", 5.0), ("c", 3.0)])).unwrap();
        assert_eq!((a.n_units, a.n_ratings, a.n_pairable_units), (3, 5, 2));
        assert!(a.identified.is_none());
        // One rating without a rater makes the whole set unidentified.
        let mut mixed = rated(&[("a", "x", 1.0), ("a", "y", 2.0), ("b", "x", 4.0), ("b", "y", 5.0)]);
        mixed[3].rater = None;
        assert!(agreement(&mixed).unwrap().identified.is_none());
        mixed[3].rater = Some("y".into());
        mixed[0].rater = None;
        assert!(agreement(&mixed).unwrap().identified.is_none());
    }

    #[test]
    fn degenerate_input_is_an_error_not_nan() {
        assert_eq!(agreement(&[]), Err(AgreementError::NoRatings));
        assert_eq!(
            agreement(&rated(&[("a", "x", 1.0), ("b", "x", 2.0)])),
            Err(AgreementError::OneRater { rater: "x".into() })
        );
        assert_eq!(agreement(&unrated(&[("a", 1.0), ("a", 2.0)])), Err(AgreementError::TooFewUnits { units: 1 }));
        assert_eq!(agreement(&unrated(&[("a", 1.0), ("b", 2.0)])), Err(AgreementError::OneRatingPerUnit { units: 2 }));
        assert_eq!(
            agreement(&unrated(&[("a", 3.0), ("a", 3.0), ("b", 3.0), ("b", 3.0)])),
            Err(AgreementError::NoVariance { ratings: 4, value: 3.0 })
        );
        // Unit means equal: ICC(1,k) would divide by MSB = 0.
        let err = agreement(&unrated(&[("a", 1.0), ("a", 3.0), ("b", 2.0), ("b", 2.0)])).unwrap_err();
        assert!(matches!(err, AgreementError::Undefined { statistic: "ICC(1,k)", .. }), "{err}");
        assert!(matches!(
            agreement(&unrated(&[("a", 1.0), ("a", f64::NAN)])),
            Err(AgreementError::NotFinite { index: 1, .. })
        ));
        let err = agreement(&rated(&[("a", "x", 1.0), ("a", "x", 2.0), ("b", "y", 2.0)])).unwrap_err();
        assert_eq!(err, AgreementError::DuplicateRating { rater: "x".into(), unit: "a".into(), first: 0, second: 1 });
        // Rater x is constant on the units both rated: CCC is 0, Pearson r undefined for every pair.
        let err = agreement(&rated(&[("a", "x", 1.0), ("a", "y", 1.0), ("b", "x", 1.0), ("b", "y", 2.0)])).unwrap_err();
        assert_eq!(err, AgreementError::NoRaterPairs { statistic: "Pearson r" });
        // The complete units do not vary although the other ratings do.
        let flat = rated(&[("a", "x", 2.0), ("a", "y", 2.0), ("b", "x", 2.0), ("b", "y", 2.0), ("c", "x", 5.0)]);
        let err = agreement(&flat).unwrap_err();
        assert!(matches!(err, AgreementError::Undefined { statistic: "ICC(A,1) and ICC(C,1)", .. }), "{err}");
    }

    #[test]
    fn serialises_flat_with_the_rater_keys_only_when_identified() {
        let json = serde_json::to_value(agreement(&shrout_fleiss()).unwrap()).unwrap();
        for key in ["n_units", "n_ratings", "alpha_interval", "icc1_1", "icc1_k", "icc_a1", "icc_c1", "ccc_pairwise"] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        let plain = agreement(&unrated(&[("a", 1.0), ("a", 2.0), ("b", 4.0), ("b", 5.0)])).unwrap();
        let json = serde_json::to_value(plain).unwrap();
        assert!(json.get("icc_a1").is_none() && json.get("pearson_pairwise").is_none(), "{json}");
    }
}
