//! Deterministic TikTok Business API records: advertisers, campaigns, ad
//! groups, ads and their daily report figures.
//!
//! Ids are what TikTok hands out: 19-digit numbers (above 2^53, neighbours
//! closer than a double's spacing there), always sent as JSON strings.
//! Entity times (`create_time`, `modify_time`) are UTC wall times
//! (`2026-09-14 08:21:05`); report days are the advertiser's own time zone;
//! money is in the advertiser's currency with two decimals, as text in reports.
//!
//! The figures of an ad on a day are a pure function of (seed, ad, day,
//! revision); ad groups and campaigns are the sums of their ads (TikTok's
//! roll-up). Revisions count how often a day was restated (late
//! conversions, refunded invalid clicks).

use chrono::NaiveDate;

use crate::rng::Rng;

const ADVERTISER_BASE: u64 = 6_900_000_000_000_000_000;
const CAMPAIGN_BASE: u64 = 1_810_000_000_000_000_000;
const ADGROUP_BASE: u64 = 1_820_000_000_000_000_000;
const AD_BASE: u64 = 1_830_000_000_000_000_000;

/// The shape of the generated account tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Campaigns per advertiser.
    pub campaigns: u64,
    /// Ad groups per campaign.
    pub adgroups: u64,
    /// Ads per ad group.
    pub ads: u64,
}

impl Shape {
    /// Global index of campaign `c` of advertiser `a`.
    pub fn campaign_index(&self, a: u64, c: u64) -> u64 {
        a * self.campaigns + c
    }
    /// Global index of ad group `g` of campaign `c` of advertiser `a`.
    pub fn adgroup_index(&self, a: u64, c: u64, g: u64) -> u64 {
        self.campaign_index(a, c) * self.adgroups + g
    }
    /// Global index of ad `k` of ad group `g` of campaign `c` of advertiser `a`.
    pub fn ad_index(&self, a: u64, c: u64, g: u64, k: u64) -> u64 {
        self.adgroup_index(a, c, g) * self.ads + k
    }
}

/// Id of advertiser `a`.
pub fn advertiser_id(seed: u64, a: u64) -> u64 {
    ADVERTISER_BASE + (seed % 1000) * 1_000_000_000_000 + a * 7
}

/// Id of the campaign with global index `i`.
pub fn campaign_id(seed: u64, i: u64) -> u64 {
    CAMPAIGN_BASE + (seed % 1000) * 1_000_000_000_000 + i * 11
}

/// Id of the ad group with global index `i`.
pub fn adgroup_id(seed: u64, i: u64) -> u64 {
    ADGROUP_BASE + (seed % 1000) * 1_000_000_000_000 + i * 13
}

/// Id of the ad with global index `i`.
pub fn ad_id(seed: u64, i: u64) -> u64 {
    AD_BASE + (seed % 1000) * 1_000_000_000_000 + i * 17
}

/// Currency and IANA time zone of advertiser `a`.
pub fn account_locale(a: u64) -> (&'static str, &'static str) {
    const L: &[(&str, &str)] = &[
        ("USD", "America/New_York"),
        ("EUR", "Europe/Berlin"),
        ("JPY", "Asia/Tokyo"),
        ("GBP", "Europe/London"),
    ];
    L[(a % L.len() as u64) as usize]
}

/// Advertiser `a` as `advertiser/info` answers it.
pub fn advertiser(seed: u64, a: u64) -> serde_json::Value {
    const BRANDS: &[&str] = &[
        "Northwind Apparel",
        "Lumen Coffee",
        "Kite Beauty",
        "Atlas Sports",
    ];
    let (currency, tz) = account_locale(a);
    let country = ["US", "DE", "JP", "GB"][(a % 4) as usize];
    serde_json::json!({
        "advertiser_id": advertiser_id(seed, a).to_string(),
        "name": format!("{} {}", BRANDS[(a % BRANDS.len() as u64) as usize], a + 1),
        "company": format!("{} Ltd.", BRANDS[(a % BRANDS.len() as u64) as usize]),
        "currency": currency,
        "timezone": tz,
        "display_timezone": tz,
        "country": country,
        "status": "STATUS_ENABLE",
        "role": "ROLE_ADVERTISER",
        "balance": 1000.0 + (a * 250) as f64,
        "create_time": 1_700_000_000u64 + a * 86_400,
    })
}

fn wall_time(r: &mut Rng, month: u32) -> String {
    format!(
        "2026-{month:02}-{:02} {:02}:{:02}:{:02}",
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60)
    )
}

const OBJECTIVES: &[&str] = &[
    "TRAFFIC",
    "CONVERSIONS",
    "REACH",
    "VIDEO_VIEWS",
    "APP_PROMOTION",
];
const NAMES: &[&str] = &[
    "Holiday Drop",
    "Winter Launch",
    "Always On",
    "Creator Collab",
    "Retargeting",
];

/// Campaign `c` of advertiser `a`.
pub fn campaign(seed: u64, shape: &Shape, a: u64, c: u64) -> serde_json::Value {
    let i = shape.campaign_index(a, c);
    let mut r = Rng::new(seed, 0x77_01, i);
    let daily = r.chance(0.6);
    serde_json::json!({
        "campaign_id": campaign_id(seed, i).to_string(),
        "advertiser_id": advertiser_id(seed, a).to_string(),
        "campaign_name": format!("{} {:03}", r.pick(NAMES), c + 1),
        "objective_type": r.pick(OBJECTIVES),
        "campaign_type": "REGULAR_CAMPAIGN",
        "budget_mode": if daily { "BUDGET_MODE_DAY" } else { "BUDGET_MODE_INFINITE" },
        "budget": if daily { (50 + r.below(40) * 25) as f64 } else { 0.0 },
        "operation_status": r.pick(&["ENABLE", "ENABLE", "DISABLE"]),
        "secondary_status": r.pick(&["CAMPAIGN_STATUS_ENABLE", "CAMPAIGN_STATUS_DISABLE", "CAMPAIGN_STATUS_BUDGET_EXCEED"]),
        "is_smart_performance_campaign": r.chance(0.2),
        "create_time": wall_time(&mut r, 9),
        "modify_time": wall_time(&mut r, 11),
    })
}

/// Ad group `g` of campaign `c` of advertiser `a`.
pub fn adgroup(seed: u64, shape: &Shape, a: u64, c: u64, g: u64) -> serde_json::Value {
    let i = shape.adgroup_index(a, c, g);
    let mut r = Rng::new(seed, 0x77_02, i);
    serde_json::json!({
        "adgroup_id": adgroup_id(seed, i).to_string(),
        "campaign_id": campaign_id(seed, shape.campaign_index(a, c)).to_string(),
        "advertiser_id": advertiser_id(seed, a).to_string(),
        "adgroup_name": format!("Ad group {}-{}", c + 1, g + 1),
        "placement_type": r.pick(&["PLACEMENT_TYPE_AUTOMATIC", "PLACEMENT_TYPE_NORMAL"]),
        "budget_mode": "BUDGET_MODE_DAY",
        "budget": (20 + r.below(30) * 10) as f64,
        "bid_type": r.pick(&["BID_TYPE_NO_BID", "BID_TYPE_CUSTOM"]),
        "bid_price": (r.below(300) as f64) / 100.0,
        "billing_event": r.pick(&["CPC", "CPM", "OCPM"]),
        "optimization_goal": r.pick(&["CLICK", "CONVERT", "REACH"]),
        "operation_status": r.pick(&["ENABLE", "ENABLE", "DISABLE"]),
        "secondary_status": r.pick(&["ADGROUP_STATUS_DELIVERY_OK", "ADGROUP_STATUS_NOT_DELIVER"]),
        "create_time": wall_time(&mut r, 9),
        "modify_time": wall_time(&mut r, 11),
    })
}

/// Ad `k` of ad group `g` of campaign `c` of advertiser `a`.
pub fn ad(seed: u64, shape: &Shape, a: u64, c: u64, g: u64, k: u64) -> serde_json::Value {
    let i = shape.ad_index(a, c, g, k);
    let mut r = Rng::new(seed, 0x77_03, i);
    serde_json::json!({
        "ad_id": ad_id(seed, i).to_string(),
        "adgroup_id": adgroup_id(seed, shape.adgroup_index(a, c, g)).to_string(),
        "campaign_id": campaign_id(seed, shape.campaign_index(a, c)).to_string(),
        "advertiser_id": advertiser_id(seed, a).to_string(),
        "ad_name": format!("Creative {}-{}-{}", c + 1, g + 1, k + 1),
        "ad_format": r.pick(&["SINGLE_VIDEO", "CAROUSEL_ADS", "SINGLE_IMAGE"]),
        "ad_text": r.pick(&["Shop the drop", "New season, new you", "Tap to try"]),
        "call_to_action": r.pick(&["SHOP_NOW", "LEARN_MORE", "SIGN_UP"]),
        "landing_page_url": format!("https://shop.example.com/p/{}?utm_source=tiktok&utm_campaign=c{}", k + 1, c + 1),
        "operation_status": r.pick(&["ENABLE", "ENABLE", "DISABLE"]),
        "secondary_status": r.pick(&["AD_STATUS_DELIVERY_OK", "AD_STATUS_NOT_DELIVER"]),
        "create_time": wall_time(&mut r, 10),
        "modify_time": wall_time(&mut r, 11),
    })
}

/// One entity's figures on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Spend in hundredths of the account currency.
    pub spend_cents: i64,
    /// Impressions.
    pub impressions: i64,
    /// Clicks (destination).
    pub clicks: i64,
    /// Conversions.
    pub conversion: i64,
}

impl Figures {
    /// `spend` as TikTok writes it: two decimals, as text.
    pub fn spend(&self) -> String {
        format!("{}.{:02}", self.spend_cents / 100, self.spend_cents % 100)
    }

    fn add(&mut self, o: &Figures) {
        self.spend_cents += o.spend_cents;
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.conversion += o.conversion;
    }
}

fn day_number(d: NaiveDate) -> u64 {
    d.signed_duration_since(NaiveDate::MIN).num_days() as u64
}

/// Figures of the ad with global index `i` on `day` after `revision`
/// restatements; `None` when it did not deliver (TikTok then has no row).
pub fn ad_figures(seed: u64, i: u64, day: NaiveDate, revision: u32) -> Option<Figures> {
    let mut r = Rng::new(seed, 0x77_04 ^ (day_number(day) << 12), i);
    if r.chance(0.15) {
        return None;
    }
    let impressions = 100 + r.below(20_000) as i64;
    let clicks = impressions * (2 + r.below(30) as i64) / 1000;
    let conversion = clicks * r.below(10) as i64 / 100 + revision as i64 * (1 + r.below(2) as i64);
    // CPM 3–12 in the account currency; a restatement refunds invalid clicks.
    let spend =
        impressions * (300 + r.below(900) as i64) / 1000 - revision as i64 * r.below(40) as i64;
    Some(Figures {
        spend_cents: spend.max(0),
        impressions,
        clicks,
        conversion,
    })
}

/// Sum of the figures of `ads` (global ad indices), `None` when none delivered.
pub fn sum_figures(
    seed: u64,
    ads: impl Iterator<Item = u64>,
    day: NaiveDate,
    revision: u32,
) -> Option<Figures> {
    let mut sum: Option<Figures> = None;
    for i in ads {
        if let Some(f) = ad_figures(seed, i, day, revision) {
            sum.get_or_insert_with(Figures::default).add(&f);
        }
    }
    sum
}

/// Figures of campaign `c` of advertiser `a` on `day`.
pub fn campaign_figures(
    seed: u64,
    shape: &Shape,
    a: u64,
    c: u64,
    day: NaiveDate,
    revision: u32,
) -> Option<Figures> {
    let per = shape.adgroups * shape.ads;
    let first = shape.campaign_index(a, c) * per;
    sum_figures(seed, first..first + per, day, revision)
}

/// Figures of ad group `g` of campaign `c` of advertiser `a` on `day`.
pub fn adgroup_figures(
    seed: u64,
    shape: &Shape,
    a: u64,
    c: u64,
    g: u64,
    day: NaiveDate,
    revision: u32,
) -> Option<Figures> {
    let first = shape.adgroup_index(a, c, g) * shape.ads;
    sum_figures(seed, first..first + shape.ads, day, revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_exceed_2_pow_53_and_neighbours_merge_as_doubles() {
        let a = campaign_id(42, 0);
        let b = campaign_id(42, 1);
        assert!(a > (1u64 << 53));
        assert_ne!(a, b);
        assert_eq!(a as f64, b as f64, "a float client would merge them");
        assert!(advertiser_id(42, 3) > (1u64 << 53));
    }

    #[test]
    fn campaigns_sum_their_ads_and_restatements_change_them() {
        let s = Shape {
            campaigns: 4,
            adgroups: 2,
            ads: 3,
        };
        let d: NaiveDate = "2026-11-20".parse().unwrap();
        let c = campaign_figures(42, &s, 1, 2, d, 0).unwrap();
        let groups: i64 = (0..2)
            .filter_map(|g| adgroup_figures(42, &s, 1, 2, g, d, 0))
            .map(|f| f.impressions)
            .sum();
        assert_eq!(c.impressions, groups);
        assert_ne!(campaign_figures(42, &s, 1, 2, d, 1), Some(c));
        assert_eq!(campaign_figures(42, &s, 1, 2, d, 0), Some(c));
        let f = Figures {
            spend_cents: 1_205,
            ..Default::default()
        };
        assert_eq!(f.spend(), "12.05");
    }
}
