"""trouper.pubsub: topics -> subscribers, sharded by subscriber; pluggable dispatch and adapters.

Phoenix.PubSub's design on trouper's runtime: subscriptions live in N supervised shards,
chosen by subscriber; subscribe, unsubscribe and broadcasts run in the caller (so reactive
callbacks can use them); dispatchers decide how one shard's subscribers are reached (the
channels layer's fastlane is one); an adapter carries broadcasts to other nodes
(``RedisAdapter`` for clusters; its hiredis dependency is imported only when one is made).
docs/pubsub.md and docs/cluster.md are the guides. This layer knows nothing of channels.
"""

from ._adapter import Adapter as Adapter
from ._adapter import LocalAdapter as LocalAdapter
from ._api import PubSubStatistics as PubSubStatistics
from ._api import ShardStatistics as ShardStatistics
from ._api import broadcast as broadcast
from ._api import broadcast_from as broadcast_from
from ._api import direct_broadcast as direct_broadcast
from ._api import get_adapter as get_adapter
from ._api import local_broadcast as local_broadcast
from ._api import local_broadcast_from as local_broadcast_from
from ._api import node_name as node_name
from ._api import statistics as statistics
from ._api import subscribe as subscribe
from ._api import subscriber_count as subscriber_count
from ._api import subscribers as subscribers
from ._api import unsubscribe as unsubscribe
from ._codec import CodecError as CodecError
from ._codec import decode as decode_message
from ._codec import encode as encode_message
from ._codec import register_message_type as register_message_type
from ._dispatch import DEFAULT_DISPATCHER as DEFAULT_DISPATCHER
from ._dispatch import DefaultDispatcher as DefaultDispatcher
from ._dispatch import Dispatcher as Dispatcher
from ._dispatch import get_dispatcher as get_dispatcher
from ._dispatch import register_dispatcher as register_dispatcher
from ._dispatch import unregister_dispatcher as unregister_dispatcher
from ._redis import RedisAdapter as RedisAdapter
from ._redis import RedisStatistics as RedisStatistics
from ._resp import RedisError as RedisError
from ._server import PubSub as PubSub
from ._server import PubSubError as PubSubError
from ._server import ShardRestarted as ShardRestarted

__all__ = [
    "DEFAULT_DISPATCHER",
    "Adapter",
    "CodecError",
    "DefaultDispatcher",
    "Dispatcher",
    "LocalAdapter",
    "PubSub",
    "PubSubError",
    "PubSubStatistics",
    "RedisAdapter",
    "RedisError",
    "RedisStatistics",
    "ShardRestarted",
    "ShardStatistics",
    "broadcast",
    "broadcast_from",
    "decode_message",
    "direct_broadcast",
    "encode_message",
    "get_adapter",
    "get_dispatcher",
    "local_broadcast",
    "local_broadcast_from",
    "node_name",
    "register_dispatcher",
    "register_message_type",
    "statistics",
    "subscribe",
    "subscriber_count",
    "subscribers",
    "unregister_dispatcher",
    "unsubscribe",
]
