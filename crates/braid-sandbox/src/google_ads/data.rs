//! Deterministic accounts, campaigns, ad groups, daily figures and clicks.
//!
//! Every value is a pure function of (seed, customer, entity, day, restatement
//! round), so any day of any account can be generated on demand. Figures
//! agree with each other: a campaign's clicks on a day are the sum of its ad
//! groups' clicks, and `click_view` has exactly one row per click.

use chrono::NaiveDate;

use crate::rng::{mix, Rng};

const CAMPAIGN: u64 = 0x6761_6331;
const AD_GROUP: u64 = 0x6761_6732;
const DAY: u64 = 0x6761_6433;
const CLICK: u64 = 0x6761_6b34;

/// Channels campaigns are spread over.
pub const CHANNELS: [&str; 5] = ["SEARCH", "DISPLAY", "SHOPPING", "PERFORMANCE_MAX", "VIDEO"];

const BIDDING: [&str; 4] = [
    "MAXIMIZE_CONVERSIONS",
    "TARGET_CPA",
    "MANUAL_CPC",
    "TARGET_ROAS",
];

const DEVICES: [&str; 3] = ["MOBILE", "DESKTOP", "TABLET"];

/// A campaign.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Index of the customer in the config.
    pub customer: usize,
    /// Index within the customer.
    pub index: u64,
    /// Campaign id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `ENABLED`, `PAUSED` or `REMOVED`.
    pub status: &'static str,
    /// Advertising channel type.
    pub channel: &'static str,
    /// Bidding strategy type.
    pub bidding: &'static str,
    /// Daily budget in micros of the account currency.
    pub budget_micros: u64,
    /// Campaign budget id.
    pub budget_id: u64,
}

/// An ad group and its one ad.
#[derive(Debug, Clone)]
pub struct AdGroup {
    /// Its campaign.
    pub campaign: Campaign,
    /// Index within the campaign.
    pub index: u64,
    /// Ad group id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `ENABLED` or `PAUSED`.
    pub status: &'static str,
    /// Ad group type.
    pub kind: &'static str,
    /// Max CPC bid in micros.
    pub cpc_bid_micros: u64,
    /// The id of its ad (`adGroupAds/<ad group>~<ad>`).
    pub ad_id: u64,
}

/// What one ad group did on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Impressions.
    pub impressions: u64,
    /// Clicks (one `click_view` row each).
    pub clicks: u64,
    /// Cost in micros.
    pub cost_micros: u64,
    /// Conversions (fractional, as data-driven attribution gives).
    pub conversions: f64,
    /// Conversion value in the account currency.
    pub conversions_value: f64,
}

impl std::ops::AddAssign for Figures {
    fn add_assign(&mut self, o: Figures) {
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.cost_micros += o.cost_micros;
        self.conversions = round(self.conversions + o.conversions, 2);
        self.conversions_value = round(self.conversions_value + o.conversions_value, 2);
    }
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

/// A campaign id (11 digits, as Google's are).
pub fn campaign_id(seed: u64, customer: usize, index: u64) -> u64 {
    20_000_000_000
        + (mix(seed ^ customer as u64) % 1_000) * 1_000_000
        + customer as u64 * 10_000
        + index
}

/// The campaigns of customer `customer`.
pub fn campaign(seed: u64, customer: usize, index: u64, per_customer: u64) -> Campaign {
    let mut r = Rng::new(seed, CAMPAIGN ^ customer as u64, index);
    let channel = CHANNELS[(index % CHANNELS.len() as u64) as usize];
    let status = if index + 1 == per_customer && per_customer > 2 {
        "REMOVED"
    } else if index % 4 == 3 {
        "PAUSED"
    } else {
        "ENABLED"
    };
    let id = campaign_id(seed, customer, index);
    Campaign {
        customer,
        index,
        id,
        name: format!(
            "{} · {}",
            [
                "Brand",
                "Generic",
                "Retargeting",
                "Winter Sale",
                "Prospecting"
            ][(r.below(5)) as usize],
            channel.to_ascii_lowercase()
        ),
        status,
        channel,
        bidding: BIDDING[r.below(BIDDING.len() as u64) as usize],
        budget_micros: (10 + r.below(190)) * 1_000_000,
        budget_id: id + 5_000_000_000,
    }
}

/// Ad group `index` of `campaign`.
pub fn ad_group(seed: u64, campaign: &Campaign, index: u64) -> AdGroup {
    let mut r = Rng::new(seed, AD_GROUP ^ campaign.id, index);
    let id = 150_000_000_000 + campaign.id % 1_000_000_000 * 100 + index;
    AdGroup {
        campaign: campaign.clone(),
        index,
        id,
        name: format!("Ad group {} of {}", index + 1, campaign.id),
        status: if r.chance(0.85) { "ENABLED" } else { "PAUSED" },
        kind: match campaign.channel {
            "DISPLAY" => "DISPLAY_STANDARD",
            "SHOPPING" => "SHOPPING_PRODUCT_ADS",
            "VIDEO" => "VIDEO_RESPONSIVE",
            _ => "SEARCH_STANDARD",
        },
        cpc_bid_micros: (20 + r.below(280)) * 10_000,
        ad_id: 700_000_000_000 + id % 1_000_000_000,
    }
}

fn day_number(day: NaiveDate) -> u64 {
    (day - NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN)).num_days() as u64
}

/// What `ag` did on `day`; `round` restatements add late conversions.
pub fn figures(seed: u64, ag: &AdGroup, day: NaiveDate, round_: u32, max_clicks: u64) -> Figures {
    let mut r = Rng::new(seed, DAY ^ ag.id, day_number(day));
    let clicks = r.below(max_clicks + 1);
    let impressions = clicks * (15 + r.below(40)) + r.below(200);
    let cpc = ag.cpc_bid_micros * (60 + r.below(40)) / 100 / 10_000 * 10_000;
    let base_tenths = r.below(clicks * 2 + 1);
    let late = if clicks > 0 { 5 * u64::from(round_) } else { 0 };
    let conversions = round((base_tenths + late) as f64 / 10.0, 2);
    let value_per = 20.0 + r.below(60) as f64 + 0.5;
    Figures {
        impressions,
        clicks,
        cost_micros: clicks * cpc,
        conversions,
        conversions_value: round(conversions * value_per, 2),
    }
}

/// One click of `ag` on `day`.
#[derive(Debug, Clone)]
pub struct Click {
    /// The Google click id.
    pub gclid: String,
    /// Result page the ad showed on.
    pub page_number: u64,
    /// Device.
    pub device: &'static str,
}

/// The `n`-th click of `ag` on `day`.
pub fn click(seed: u64, ag: &AdGroup, day: NaiveDate, n: u64) -> Click {
    let mut r = Rng::new(seed, CLICK ^ ag.id ^ (day_number(day) << 20), n);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut gclid = String::from("Cj0KCQiA");
    for _ in 0..4 {
        let mut x = r.next();
        for _ in 0..10 {
            gclid.push(ALPHABET[(x % 64) as usize] as char);
            x >>= 6;
        }
    }
    gclid.push_str("_BwE");
    Click {
        gclid,
        page_number: 1 + r.below(2),
        device: DEVICES[r.below(DEVICES.len() as u64) as usize],
    }
}
