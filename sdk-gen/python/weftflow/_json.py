"""JSON to and from protobuf's ``Value`` and ``Struct``, and money."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Union

from google.protobuf import json_format, message, struct_pb2

from weftflow.v1 import common_pb2

#: A JSON value as Python sees it.
JSON = Union[None, bool, int, float, str, List[Any], Dict[str, Any]]

#: Money as users write it: cents of usd, or ``{"amount": 50, "currency": "usd"}``.
MoneyLike = Union[int, Mapping[str, Any], common_pb2.Money]


def _tidy(value: Any) -> Any:
    """Whole floats back to ints (protobuf keeps every JSON number a double)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    return value


def to_value(value: JSON) -> struct_pb2.Value:
    """A JSON value as a protobuf ``Value``."""
    holder = struct_pb2.Struct()
    holder.update({"v": value})
    message = struct_pb2.Value()
    message.CopyFrom(holder.fields["v"])
    return message


def from_value(value: Any) -> Any:
    """A protobuf ``Value`` as JSON (``None`` when unset). Results of the
    clients are plain JSON already (``run.output``); such a value is
    returned as it is, so code written against raw messages keeps working."""
    if value is None:
        return None
    if not isinstance(value, message.Message):
        return value
    return _tidy(json_format.MessageToDict(value))


def to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    """A JSON object as a protobuf ``Struct``."""
    message = struct_pb2.Struct()
    json_format.ParseDict(dict(value), message)
    return message


def from_struct(value: Optional[struct_pb2.Struct]) -> Dict[str, Any]:
    """A protobuf ``Struct`` as a JSON object (``{}`` when unset)."""
    if value is None:
        return {}
    out = _tidy(json_format.MessageToDict(value))
    return out if isinstance(out, dict) else {}


def to_money(money: MoneyLike) -> common_pb2.Money:
    """Cents of usd, a mapping with amount and currency, or a ``Money``."""
    if isinstance(money, common_pb2.Money):
        return money
    if isinstance(money, int):
        return common_pb2.Money(amount=money, currency="usd")
    return common_pb2.Money(amount=int(money["amount"]), currency=str(money.get("currency", "usd")))


def format_money(money: Any) -> str:
    """``"12 usd cents"`` for logs (a ``Money`` message or a
    :class:`weftflow.Money`); ``"0"`` when unset."""
    if money is None or (money.amount == 0 and not money.currency):
        return "0"
    return f"{money.amount} {money.currency} cents"
