"""A file's headers matched to the data contract's columns, as shops write them.

A header matches a contract column when, normalised (NFKC, trimmed, camelCase and spaces to
snake_case: `User ID`, `userId` and `USER_ID` are all `user_id`), it is the column's name, one of
its common aliases (`ALIASES`: `订单号` for `order_id`, `customer_id` for `user_id`, ...), or the
header the shop's configuration maps to it (`[columns.<source>]` in the catalog file, which wins).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

from store.errors import InputError

ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": (
        "用户id",
        "用户编号",
        "会员id",
        "会员编号",
        "客户id",
        "买家id",
        "customer_id",
        "member_id",
        "buyer_id",
        "uid",
    ),
    "order_id": ("订单号", "订单id", "订单编号", "order_no", "order_number"),
    "ts": (
        "下单时间",
        "订单时间",
        "创建时间",
        "支付时间",
        "时间",
        "行为时间",
        "order_time",
        "event_time",
        "created_at",
        "timestamp",
        "time",
        "datetime",
    ),
    "amount": (
        "实付金额",
        "订单金额",
        "支付金额",
        "金额",
        "total",
        "total_amount",
        "order_amount",
        "paid_amount",
    ),
    "item_id": ("商品id", "商品编号", "sku", "sku_id", "product_id"),
    "quantity": ("数量", "购买数量", "qty"),
    "price": ("单价", "价格", "unit_price"),
    "category": ("类目", "品类", "分类", "商品类目"),
    "brand": ("品牌",),
    "name": ("商品名称", "名称", "product_name", "title"),
    "event_type": ("行为类型", "事件类型", "behavior_type", "action"),
    "event_id": ("事件id",),
    "device_id": ("设备id", "设备号"),
    "session_id": ("会话id",),
    "query": ("搜索词", "关键词", "keyword", "search_query"),
    "platform": ("平台",),
    "os": ("操作系统",),
    "user_agent": ("ua",),
    "gender": ("性别", "sex"),
    "birth_date": ("出生日期", "生日", "birthday", "dob"),
    "age": ("年龄",),
    "city": ("城市",),
    "region": ("地区", "大区", "区域"),
    "occupation": ("职业",),
    "member_level": ("会员等级", "会员级别", "vip_level"),
    "registered_at": ("注册时间", "注册日期", "signup_at", "created_at"),
    "channel": ("渠道", "来源渠道"),
    "coupon_code": ("优惠券", "优惠券码", "coupon"),
    "discount": ("优惠金额", "折扣金额", "discount_amount"),
    "pay_method": ("支付方式", "payment_method"),
}


def normalised(header: str) -> str:
    """`User ID`, `userId`, ` USER-ID ` -> `user_id`; `用户ID` -> `用户id`."""
    text = unicodedata.normalize("NFKC", header).strip()
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[\s\-./]+", "_", text).strip("_").lower()


def match_columns(
    path: Path,
    headers: list[str],
    wanted: Iterable[str],
    *,
    mapping: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """For each contract column in `wanted` that the file has, the position of its header.

    The column's own name wins over its aliases; the shop's mapping over both. Raises an
    InputError when a mapped header is absent, or when two headers could be one column.
    """
    positions: dict[str, list[int]] = {}
    for position, header in enumerate(headers):
        positions.setdefault(normalised(header), []).append(position)
    matched: dict[str, int] = {}
    for column in wanted:
        if mapping and column in mapping:
            forms = [normalised(mapping[column])]
            if forms[0] not in positions:
                raise InputError(
                    f"{path}: the header {mapping[column]!r} mapped to column {column!r} "
                    f"is not in the file (found: {', '.join(headers)})"
                )
        elif column in positions:
            forms = [column]
        else:
            forms = [alias for alias in ALIASES.get(column, ()) if alias in positions]
        at = [position for form in forms for position in positions.get(form, [])]
        if len(at) > 1:
            raise InputError(
                f"{path}: several headers could be column {column!r}: "
                f"{', '.join(repr(headers[i]) for i in at)}; keep one, or map one in "
                "[columns.<source>]"
            )
        if at:
            matched[column] = at[0]
    return matched


def missing_column(path: Path, column: str, found: Iterable[str]) -> InputError:
    """The error for a required column the file lacks, with the closest header it has."""
    headers = list(found)
    close = difflib.get_close_matches(column, [normalised(h) for h in headers], n=1, cutoff=0.5)
    hint = ""
    if close:
        original = next(h for h in headers if normalised(h) == close[0])
        hint = f"; closest: {original!r} (map it in [columns.<source>] if it is {column!r})"
    return InputError(
        f"{path}: missing required column {column!r} (found: {', '.join(headers)}){hint}"
    )
