//! Deterministic Ocean Engine (巨量引擎) records: advertisers, projects
//! (项目, the v3 campaign level), promotions (广告, the ad level) and their
//! daily report figures.
//!
//! Ids are what Ocean Engine hands out: advertiser ids have 16 digits (below
//! 2^53), project and promotion ids 19 digits (above 2^53, and neighbours
//! differ by less than a double's spacing there, so a client that reads them
//! as floating point merges them). Wall times are Asia/Shanghai
//! (`2026-11-02 10:23:45`); money is yuan with two decimals.
//!
//! The figures of promotion `k` on a day are a pure function of (seed,
//! promotion, day, revision); a project's figures are the sum of its
//! promotions' (Ocean Engine's roll-up). Revisions count how often a day was
//! restated (late conversions), so a re-pull after a restatement returns
//! different numbers for the same (entity, day).

use chrono::NaiveDate;
use serde::Serialize;

use crate::rng::Rng;

const ADVERTISER_BASE: u64 = 1_760_000_000_000_000;
const PROJECT_BASE: u64 = 7_300_000_000_000_000_000;
const PROMOTION_BASE: u64 = 7_310_000_000_000_000_000;

fn pick(r: &mut Rng, items: &[&'static str]) -> &'static str {
    items[r.below(items.len() as u64) as usize]
}

/// Id of advertiser `a`.
pub fn advertiser_id(seed: u64, a: u64) -> u64 {
    ADVERTISER_BASE + (seed % 1000) * 1_000_000 + a * 104_729
}

/// Id of project `p` of advertiser `a` (`per` projects per advertiser).
pub fn project_id(seed: u64, a: u64, p: u64, per: u64) -> u64 {
    PROJECT_BASE + (seed % 1000) * 1_000_000_000_000 + (a * per + p) * 101
}

/// Id of promotion `k` of project `p` of advertiser `a`.
pub fn promotion_id(seed: u64, a: u64, p: u64, k: u64, per: u64, per_project: u64) -> u64 {
    PROMOTION_BASE + (seed % 1000) * 1_000_000_000_000 + ((a * per + p) * per_project + k) * 37
}

/// `GET /open_api/2/advertiser/info/` item.
#[derive(Debug, Clone, Serialize)]
pub struct Advertiser {
    /// Advertiser id (a JSON number).
    pub id: u64,
    /// Account name.
    pub name: String,
    /// The company behind it.
    pub company: String,
    /// Role.
    pub role: &'static str,
    /// Status.
    pub status: &'static str,
    /// Address.
    pub address: String,
    /// Industry (first level).
    pub first_industry_name: &'static str,
    /// Industry (second level).
    pub second_industry_name: &'static str,
    /// Creation, Asia/Shanghai wall time.
    pub create_time: String,
}

const BRANDS: &[&str] = &["江南织造", "山野咖啡", "青禾美妆", "北辰运动"];
const CITIES: &[&str] = &[
    "上海市静安区",
    "杭州市西湖区",
    "广州市天河区",
    "北京市朝阳区",
];
const INDUSTRIES: &[(&str, &str)] = &[
    ("服饰", "女装"),
    ("餐饮", "咖啡"),
    ("美妆", "护肤"),
    ("运动户外", "运动鞋服"),
];

/// Advertiser `a`.
pub fn advertiser(seed: u64, a: u64) -> Advertiser {
    let brand = BRANDS[(a % BRANDS.len() as u64) as usize];
    let (first, second) = INDUSTRIES[(a % INDUSTRIES.len() as u64) as usize];
    Advertiser {
        id: advertiser_id(seed, a),
        name: format!("{brand}官方旗舰店-{}", a + 1),
        company: format!("{}{brand}贸易有限公司", &CITIES[(a % 4) as usize][..9]),
        role: "ROLE_ADVERTISER",
        status: "STATUS_ENABLE",
        address: format!("{}{}号", CITIES[(a % 4) as usize], 100 + a),
        first_industry_name: first,
        second_industry_name: second,
        create_time: format!("2024-0{}-1{} 09:30:00", 1 + a % 9, a % 10),
    }
}

/// `GET /open_api/v3.0/project/list/` item.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    /// Project id (a JSON number above 2^53).
    pub project_id: u64,
    /// Owning advertiser.
    pub advertiser_id: u64,
    /// Name.
    pub name: String,
    /// `MANUAL` or `PROCEDURAL`.
    pub delivery_mode: &'static str,
    /// Promotion goal.
    pub landing_type: &'static str,
    /// Ad type.
    pub ad_type: &'static str,
    /// Delivery status.
    pub status: &'static str,
    /// Switch.
    pub opt_status: &'static str,
    /// Budget mode.
    pub budget_mode: &'static str,
    /// Daily budget, yuan.
    pub budget: f64,
    /// Bid type.
    pub pricing: &'static str,
    /// Creation, Asia/Shanghai wall time.
    pub project_create_time: String,
    /// Last change, Asia/Shanghai wall time.
    pub project_modify_time: String,
}

const CAMPAIGN_NAMES: &[&str] = &["双十二大促", "冬季新品", "会员日", "直播引流", "品牌种草"];

/// Project `p` of advertiser `a`.
pub fn project(seed: u64, a: u64, p: u64, per: u64) -> Project {
    let mut r = Rng::new(seed, 0x0E1, a * per + p);
    let day = 1 + r.below(28);
    Project {
        project_id: project_id(seed, a, p, per),
        advertiser_id: advertiser_id(seed, a),
        name: format!(
            "{}-{}-{:03}",
            r.pick(CAMPAIGN_NAMES),
            r.pick(&["抖音", "头条", "西瓜"]),
            p + 1
        ),
        delivery_mode: pick(&mut r, &["MANUAL", "PROCEDURAL"]),
        landing_type: pick(&mut r, &["LINK", "APP", "SHOP", "QUICK_APP"]),
        ad_type: "ALL",
        status: pick(
            &mut r,
            &[
                "PROJECT_STATUS_ENABLE",
                "PROJECT_STATUS_ENABLE",
                "PROJECT_STATUS_DISABLE",
            ],
        ),
        opt_status: pick(&mut r, &["ENABLE", "ENABLE", "DISABLE"]),
        budget_mode: "BUDGET_MODE_DAY",
        budget: (300 + r.below(50) * 100) as f64,
        pricing: pick(&mut r, &["PRICING_OCPM", "PRICING_CPC"]),
        project_create_time: format!("2026-09-{day:02} 1{}:0{}:00", r.below(10), r.below(10)),
        project_modify_time: format!("2026-10-{day:02} 2{}:1{}:30", r.below(4), r.below(10)),
    }
}

/// `GET /open_api/v3.0/promotion/list/` item.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// Promotion id (a JSON number above 2^53).
    pub promotion_id: u64,
    /// Its project.
    pub project_id: u64,
    /// Owning advertiser.
    pub advertiser_id: u64,
    /// Name.
    pub promotion_name: String,
    /// Delivery status.
    pub status: &'static str,
    /// Switch.
    pub opt_status: &'static str,
    /// Daily budget, yuan (`null` when the project's budget applies).
    pub budget: Option<f64>,
    /// Target cost per conversion, yuan.
    pub cpa_bid: f64,
    /// Learning phase.
    pub learning_phase: &'static str,
    /// Creation, Asia/Shanghai wall time.
    pub promotion_create_time: String,
    /// Last change, Asia/Shanghai wall time.
    pub promotion_modify_time: String,
}

/// Promotion `k` of project `p` of advertiser `a`.
pub fn promotion(seed: u64, a: u64, p: u64, k: u64, per: u64, per_project: u64) -> Promotion {
    let mut r = Rng::new(seed, 0x0E2, (a * per + p) * per_project + k);
    let day = 1 + r.below(28);
    Promotion {
        promotion_id: promotion_id(seed, a, p, k, per, per_project),
        project_id: project_id(seed, a, p, per),
        advertiser_id: advertiser_id(seed, a),
        promotion_name: format!("广告{}-素材{}", p + 1, k + 1),
        status: pick(&mut r, &["OK", "OK", "DISABLED", "AUDIT"]),
        opt_status: pick(&mut r, &["ENABLE", "ENABLE", "DISABLE"]),
        budget: r.chance(0.5).then(|| (100 + r.below(20) * 50) as f64),
        cpa_bid: (500 + r.below(9000)) as f64 / 100.0,
        learning_phase: pick(&mut r, &["LEARNING", "LEARNED", "LEARN_FAILED"]),
        promotion_create_time: format!("2026-09-{day:02} 0{}:2{}:00", r.below(10), r.below(6)),
        promotion_modify_time: format!("2026-11-{day:02} 1{}:4{}:15", r.below(10), r.below(6)),
    }
}

/// One entity's figures on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// 消耗, in fen (hundredths of a yuan).
    pub cost_fen: i64,
    /// 展示.
    pub show_cnt: i64,
    /// 点击.
    pub click_cnt: i64,
    /// 转化.
    pub convert_cnt: i64,
}

impl Figures {
    /// `stat_cost` as Ocean Engine writes it: yuan with two decimals, as text.
    pub fn cost_yuan(&self) -> String {
        format!("{}.{:02}", self.cost_fen / 100, self.cost_fen % 100)
    }

    fn add(&mut self, o: &Figures) {
        self.cost_fen += o.cost_fen;
        self.show_cnt += o.show_cnt;
        self.click_cnt += o.click_cnt;
        self.convert_cnt += o.convert_cnt;
    }
}

fn day_number(d: NaiveDate) -> u64 {
    d.signed_duration_since(NaiveDate::MIN).num_days() as u64
}

/// Figures of promotion `index` (its global index) on `day` after
/// `revision` restatements; `None` when it did not deliver that day
/// (Ocean Engine returns no row then).
pub fn promotion_figures(seed: u64, index: u64, day: NaiveDate, revision: u32) -> Option<Figures> {
    let mut r = Rng::new(seed, 0x0E3 ^ (day_number(day) << 8), index);
    if r.chance(0.12) {
        return None;
    }
    let show = 200 + r.below(30_000) as i64;
    let click = show * (1 + r.below(40) as i64) / 1000;
    let convert = click * r.below(12) as i64 / 100 + revision as i64 * (1 + r.below(3) as i64);
    // CPM 20–80 yuan; a restatement refunds a little invalid traffic.
    let cost = show * (2000 + r.below(6000) as i64) / 1000 - revision as i64 * r.below(50) as i64;
    Some(Figures {
        cost_fen: cost.max(0),
        show_cnt: show,
        click_cnt: click,
        convert_cnt: convert,
    })
}

/// Figures of project `p` of advertiser `a` on `day`: the sum of its
/// promotions', `None` when none delivered.
pub fn project_figures(
    seed: u64,
    a: u64,
    p: u64,
    day: NaiveDate,
    revision: u32,
    per: u64,
    per_project: u64,
) -> Option<Figures> {
    let mut sum: Option<Figures> = None;
    for k in 0..per_project {
        if let Some(f) = promotion_figures(seed, (a * per + p) * per_project + k, day, revision) {
            sum.get_or_insert_with(Figures::default).add(&f);
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_2_pow_53_differ_by_less_than_a_doubles_spacing() {
        let a = project_id(42, 0, 0, 30);
        let b = project_id(42, 0, 1, 30);
        assert!(a > (1u64 << 53));
        assert_ne!(a, b);
        assert_eq!(a as f64, b as f64, "a float client would merge them");
        assert!(advertiser_id(42, 9) < (1u64 << 53));
    }

    #[test]
    fn project_figures_are_the_sum_of_promotions_and_restatements_change_them() {
        let d: NaiveDate = "2026-11-20".parse().unwrap();
        let p = project_figures(42, 1, 2, d, 0, 10, 3).unwrap();
        let parts: Vec<Figures> = (0..3)
            .filter_map(|k| promotion_figures(42, (10 + 2) * 3 + k, d, 0))
            .collect();
        assert_eq!(p.show_cnt, parts.iter().map(|f| f.show_cnt).sum::<i64>());
        assert_ne!(project_figures(42, 1, 2, d, 1, 10, 3), Some(p));
        assert_eq!(project_figures(42, 1, 2, d, 0, 10, 3), Some(p));
        assert_eq!(
            Figures {
                cost_fen: 12_305,
                ..Default::default()
            }
            .cost_yuan(),
            "123.05"
        );
    }
}
