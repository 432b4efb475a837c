"""The report's words in English and Chinese (`?lang=zh-CN`, `--lang zh-CN`).

Tag keys and values stay as the store has them: they are what expressions and the API take.
"""

from __future__ import annotations

from store.errors import InputError

LANGUAGES = ("en", "zh-CN")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Persona report",
        "run": "Run",
        "as_of": "as of",
        "persons": "persons",
        "tags": "tags",
        "generated": "Generated",
        "ranges_note": (
            "Counts under {minimum} persons, or leaving fewer than {minimum} outside, are shown "
            "as ranges for this role, as the API shows them."
        ),
        "overview": "Overview",
        "quality": "Data quality",
        "source": "source",
        "read": "read",
        "kept": "kept",
        "after_as_of": "after as_of",
        "dropped": "quarantined by reason",
        "personas": "Personas",
        "persona": "persona",
        "size": "size",
        "share": "share",
        "trend": "Persona sizes over runs",
        "distinguishing": "Most distinguishing tags",
        "tag": "tag",
        "lift": "lift",
        "rfm_mix": "RFM segment mix",
        "value_mix": "Value segment mix",
        "categories": "Top categories",
        "brands": "Top brands",
        "channel": "Recommended channel",
        "scores": "Repurchase and churn score distributions",
        "score": "score",
        "distributions": "Lifecycle and value segments",
        "lifecycle": "Lifecycle",
        "value_segment": "Value segment",
        "rfm_grid": "RFM grid: recency (R) against frequency (F), coloured by mean monetary (M)",
        "mean_monetary": "mean monetary",
        "audiences": "Saved audiences",
        "audience": "audience",
        "audience_sizes": "Size over runs",
        "overlap": "Overlap (persons in both)",
        "expression": "expression",
        "current": "now",
        "unmeasured": "does not fit this run",
        "no_audiences": "No saved audiences yet (saveAudience in the API).",
        "more_audiences": "and {more} more saved audiences",
        "performance": "Segment performance and drift",
        "conversion": "Ordered within {days} days after as_of, by {key}",
        "no_performance": (
            "The data ends at as_of ({covered} days after it): tag as of an earlier day "
            "(portrait run --as-of) to see how segments converted."
        ),
        "converted": "converted",
        "rate": "rate",
        "drift": "Drift against run {previous} (PSI, threshold {threshold})",
        "no_drift": "A first run: nothing to compare with yet.",
        "alerts": "Alerts",
        "no_alerts": "No key moved past the threshold.",
        "rules": "Strongest basket rules",
        "item_rules": "Items",
        "category_rules": "Categories",
        "if_bought": "bought",
        "then": "then",
        "support": "support",
        "confidence": "confidence",
        "no_rules": "No rules at this level.",
        "run_id": "run",
        "key": "key",
        "value": "value",
        "key_prompt": "This report needs an analyst or admin API key (portrait keys create).",
        "operator_refused": (
            "The persona report is for analyst and admin keys: its counts are not checked "
            "against the other answers an operator key gets. Operators read aggregates "
            "through the API."
        ),
        "key_label": "API key",
        "key_submit": "Open the report",
        "key_wrong": "That key is unknown or revoked.",
        "key_kept": (
            "The key is kept in a cookie that only this site's report pages receive "
            "(HttpOnly, SameSite=Strict) until the browser closes."
        ),
    },
    "zh-CN": {
        "title": "用户画像报告",
        "run": "批次",
        "as_of": "截至",
        "persons": "人",
        "tags": "标签",
        "generated": "生成于",
        "ranges_note": (
            "对此角色，少于 {minimum} 人（或其余不足 {minimum} 人）的人数以区间显示，与 API 一致。"
        ),
        "overview": "概览",
        "quality": "数据质量",
        "source": "数据源",
        "read": "读取",
        "kept": "保留",
        "after_as_of": "截止时间之后",
        "dropped": "隔离（按原因）",
        "personas": "用户群像",
        "persona": "群像",
        "size": "人数",
        "share": "占比",
        "trend": "各批次的群像人数",
        "distinguishing": "最具区分度的标签",
        "tag": "标签",
        "lift": "提升度",
        "rfm_mix": "RFM 分群构成",
        "value_mix": "价值分群构成",
        "categories": "偏好品类",
        "brands": "偏好品牌",
        "channel": "推荐触达渠道",
        "scores": "复购与流失得分分布",
        "score": "得分",
        "distributions": "生命周期与价值分群",
        "lifecycle": "生命周期",
        "value_segment": "价值分群",
        "rfm_grid": "RFM 矩阵：最近一次消费 (R) 对消费频率 (F)，颜色为平均消费金额 (M)",
        "mean_monetary": "平均消费金额",
        "audiences": "已保存人群",
        "audience": "人群",
        "audience_sizes": "各批次人数",
        "overlap": "重叠（同时属于两者的人数）",
        "expression": "表达式",
        "current": "当前",
        "unmeasured": "不适用于本批次",
        "no_audiences": "尚无已保存人群（API 中的 saveAudience）。",
        "more_audiences": "另有 {more} 个已保存人群",
        "performance": "分群表现与漂移",
        "conversion": "截止时间后 {days} 天内下单，按 {key}",
        "no_performance": (
            "数据止于截止时间（之后 {covered} 天）：用更早的日期打标签"
            "（portrait run --as-of）即可查看分群转化。"
        ),
        "converted": "已转化",
        "rate": "转化率",
        "drift": "相对批次 {previous} 的漂移（PSI，阈值 {threshold}）",
        "no_drift": "首个批次：尚无可比较的批次。",
        "alerts": "告警",
        "no_alerts": "没有标签超过阈值。",
        "rules": "最强购物篮规则",
        "item_rules": "商品",
        "category_rules": "品类",
        "if_bought": "购买了",
        "then": "则",
        "support": "支持度",
        "confidence": "置信度",
        "no_rules": "此层级没有规则。",
        "run_id": "批次",
        "key": "标签键",
        "value": "值",
        "key_prompt": "查看此报告需要 API 密钥（analyst 或 admin，portrait keys create）。",
        "operator_refused": (
            "画像报告仅供 analyst 与 admin 密钥查看：报告中的计数不经过 operator 密钥的"
            "防差分核对。operator 请通过 API 读取汇总数据。"
        ),
        "key_label": "API 密钥",
        "key_submit": "打开报告",
        "key_wrong": "密钥不存在或已被吊销。",
        "key_kept": (
            "密钥保存在仅本站报告页面可读取的 Cookie 中（HttpOnly、SameSite=Strict），"
            "关闭浏览器后失效。"
        ),
    },
}


def words(lang: str) -> dict[str, str]:
    """The page's words in `lang`, or InputError naming the languages there are."""
    if lang not in WORDS:
        raise InputError(f"language {lang!r} is not one of {', '.join(LANGUAGES)}")
    return WORDS[lang]
