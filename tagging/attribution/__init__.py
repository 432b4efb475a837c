"""Marketing attribution: which channels and campaigns earned the orders.

Touches (the `touches` source, and the orders' own channel and coupon) are cut into paths that
end in an order or in nothing (`paths`); rule-based models (`rules`) and two data-driven ones
(`markov`, `shapley`) divide each order's credit among the path's channels or campaigns;
holdouts (`holdout`) measure what a campaign caused; `report` puts them side by side.
"""
