"""Forum supergroups: topics (`createForumTopic`, `editForumTopic`, `closeForumTopic`,
`reopenForumTopic`, `deleteForumTopic`), messages in a topic, and the General topic.

Rules and texts are Telegram's where known, else the stricter reading (docs/SANDBOX.md, "Forums")."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from bot.sandbox.telegram.errors import bad_request
from bot.sandbox.telegram.state import _Chat, _public, _Topic

# The six colours the Bot API accepts for a topic's icon (createForumTopic, `icon_color`).
TOPIC_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
MAX_TOPIC_NAME = 128  # "Topic name, 1-128 characters" (Bot API, createForumTopic)
NOT_A_FORUM = "the chat is not a forum"
THREAD_NOT_FOUND = "message thread not found"
TOPIC_CLOSED = "TOPIC_CLOSED"
TOPIC_NOT_MODIFIED = "TOPIC_NOT_MODIFIED"
# What a bot that may not manage topics is told (TDLib's ForumTopicManager, as the Bot API relays
# it: "Bad Request: not enough rights to create a topic"). The Bot API asks for an administrator
# with can_manage_topics (can_delete_messages to delete), "unless it is the creator of the topic":
# the stricter reading drops that exception (docs/SANDBOX.md, "Forums").
NO_RIGHT_TO_CREATE = "not enough rights to create a topic"
NO_RIGHT_TO_EDIT = "not enough rights to edit the topic"
NO_RIGHT_TO_CLOSE = "not enough rights to close or open the topic"
NO_RIGHT_TO_DELETE = "not enough rights to delete the topic"


def _topic_name(value: Any) -> str:
    name = value if isinstance(value, str) else ""
    if not name.strip():
        raise bad_request("TOPIC_TITLE_EMPTY")
    if len(name) > MAX_TOPIC_NAME:
        # Stricter than a silent cut: a bot must keep names within the documented 128.
        raise bad_request("TOPIC_TITLE_TOO_LONG")
    return name


class ForumMixin:
    """Topics of forum supergroups, on the bot's side and the people's."""

    api_methods: ClassVar[dict[str, str]] = {
        "createforumtopic": "_create_forum_topic",
        "editforumtopic": "_edit_forum_topic",
        "closeforumtopic": "_close_forum_topic",
        "reopenforumtopic": "_reopen_forum_topic",
        "deleteforumtopic": "_delete_forum_topic",
        "getforumtopiciconstickers": "_get_forum_topic_icon_stickers",
    }

    # -- the people: an administrator turns topics on, closes or deletes a topic ----------------

    def set_forum(self, chat_id: int, enabled: bool = True) -> dict:
        """An administrator turns the group's topics on (or off); only supergroups have them."""
        chat = self._chats.get(chat_id)
        if chat is None:
            raise KeyError(f"no chat {chat_id}")
        if chat.info["type"] != "supergroup":
            raise ValueError("only supergroups can be forums")
        if enabled:
            chat.info["is_forum"] = True
        else:
            chat.info.pop("is_forum", None)
        self._signal_change()
        return copy.deepcopy(chat.info)

    def topics(self, chat_id: int) -> list[dict]:
        """The chat's topics, oldest first: {message_thread_id, name, icon_color, is_closed}."""
        chat = self._chats.get(chat_id)
        if chat is None:
            raise KeyError(f"no chat {chat_id}")
        return [topic.as_dict() for topic in chat.topics.values()]

    def close_topic(self, user_id: int, chat_id: int, thread_id: int) -> dict:
        """A member (an administrator) closes a topic; the bot gets the service message."""
        chat = self._user_chat(user_id, chat_id)
        topic = self._find_topic(chat, thread_id, ValueError)
        if topic.closed:
            raise ValueError("the topic is already closed")
        topic.closed = True
        return self._topic_service(chat, topic, {"forum_topic_closed": {}}, self._users[user_id])

    def reopen_topic(self, user_id: int, chat_id: int, thread_id: int) -> dict:
        """A member (an administrator) reopens a closed topic; the bot gets the service message."""
        chat = self._user_chat(user_id, chat_id)
        topic = self._find_topic(chat, thread_id, ValueError)
        if not topic.closed:
            raise ValueError("the topic is open")
        topic.closed = False
        return self._topic_service(chat, topic, {"forum_topic_reopened": {}}, self._users[user_id])

    def delete_topic(self, user_id: int, chat_id: int, thread_id: int) -> None:
        """A member (an administrator) deletes a topic and every message in it; no update."""
        chat = self._user_chat(user_id, chat_id)
        self._find_topic(chat, thread_id, ValueError)
        self._drop_topic(chat, thread_id)

    # -- where a message goes -------------------------------------------------------------------

    def _place_in_thread(
        self, chat: _Chat, p: dict, fields: dict, reply_to: dict | None
    ) -> dict | None:
        """Put a bot message in its topic (`message_thread_id`, or the replied message's topic);
        without one it goes to the General topic. Returns the message it replies to: in a topic,
        Telegram shows the topic's creation message as the replied one."""
        thread = p.get("message_thread_id")
        if thread in (None, "") and reply_to is not None and chat.info.get("is_forum"):
            thread = reply_to.get("message_thread_id")
        if thread in (None, ""):
            return reply_to
        if not isinstance(thread, int) or isinstance(thread, bool):
            raise bad_request("invalid message thread identifier specified")
        if not chat.info.get("is_forum") or thread not in chat.topics:
            raise bad_request(THREAD_NOT_FOUND)
        if chat.topics[thread].closed and not self._bot_may(chat, "can_manage_topics"):
            # An administrator who manages topics still posts in a closed topic; others may not.
            raise bad_request(TOPIC_CLOSED)
        fields["message_thread_id"] = thread
        fields["is_topic_message"] = True
        return reply_to if reply_to is not None else chat.messages.get(thread)

    def _user_thread(self, chat: _Chat, thread_id: int | None, fields: dict) -> dict | None:
        """The same for a person writing in a topic (closed topics refuse them)."""
        if thread_id is None:
            return None
        topic = self._find_topic(chat, thread_id, ValueError)
        if topic.closed:
            raise ValueError("the topic is closed")
        fields["message_thread_id"] = thread_id
        fields["is_topic_message"] = True
        return chat.messages.get(thread_id)

    # -- the Bot API ----------------------------------------------------------------------------

    def _forum(self, p: dict) -> _Chat:
        chat = self._chat(p)
        self._refuse_outsider(chat)
        if not chat.info.get("is_forum"):
            raise bad_request(NOT_A_FORUM)
        # Creating, renaming, closing or reopening a topic posts a service message in the group:
        # counted in the group's 20 messages a minute, before anything changes (the stricter
        # reading: Telegram does not say; docs/SANDBOX.md). Deleting one is counted too.
        self._take_rate(chat)
        return chat

    def _bot_may(self, chat: _Chat, right: str) -> bool:
        """Whether the bot holds an administrator's `right` in the chat (the creator holds all)."""
        member = chat.bot_member
        return member["status"] == "creator" or (
            member["status"] == "administrator" and bool(member.get(right))
        )

    def _require_right(self, chat: _Chat, right: str, refusal: str) -> None:
        if not self._bot_may(chat, right):
            raise bad_request(refusal)

    def _find_topic(
        self, chat: _Chat, thread_id: Any, error: type[Exception] | None = None
    ) -> _Topic:
        topic = chat.topics.get(thread_id) if chat.info.get("is_forum") else None
        if topic is None:
            if error is not None:
                raise error(f"no topic {thread_id} in chat {chat.info['id']}")
            raise bad_request(THREAD_NOT_FOUND)
        return topic

    def _api_topic(self, p: dict, right: str, refusal: str) -> tuple[_Chat, _Topic]:
        chat = self._forum(p)
        thread = p.get("message_thread_id")
        if thread in (None, ""):
            raise bad_request("message_thread_id is empty")
        if not isinstance(thread, int) or isinstance(thread, bool):
            raise bad_request("invalid message thread identifier specified")
        self._require_right(chat, right, refusal)
        return chat, self._find_topic(chat, thread)

    def _create_forum_topic(self, p: dict, files: dict) -> dict:
        chat = self._forum(p)
        self._require_right(chat, "can_manage_topics", NO_RIGHT_TO_CREATE)
        name = _topic_name(p.get("name"))
        color = p.get("icon_color", TOPIC_COLORS[0])
        if color not in TOPIC_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")  # stricter reading: one of the six
        topic = _Topic(chat.next_id, name, color, p.get("icon_custom_emoji_id") or None)
        chat.topics[topic.thread_id] = topic
        created = {"name": name, "icon_color": color}
        if topic.icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
        self._topic_service(chat, topic, {"forum_topic_created": created}, self.bot_user)
        return topic.as_forum_topic()

    def _edit_forum_topic(self, p: dict, files: dict) -> bool:
        chat, topic = self._api_topic(p, "can_manage_topics", NO_RIGHT_TO_EDIT)
        edited: dict[str, Any] = {}
        if p.get("name") not in (None, ""):
            name = _topic_name(p["name"])
            if name != topic.name:
                topic.name = edited["name"] = name
        if "icon_custom_emoji_id" in p:
            emoji = p.get("icon_custom_emoji_id") or None
            if emoji != topic.icon_custom_emoji_id:
                topic.icon_custom_emoji_id = emoji
                edited["icon_custom_emoji_id"] = emoji or ""
        if not edited:
            raise bad_request(TOPIC_NOT_MODIFIED)
        self._topic_service(chat, topic, {"forum_topic_edited": edited}, self.bot_user)
        return True

    def _close_forum_topic(self, p: dict, files: dict) -> bool:
        chat, topic = self._api_topic(p, "can_manage_topics", NO_RIGHT_TO_CLOSE)
        if topic.closed:
            raise bad_request(TOPIC_NOT_MODIFIED)
        topic.closed = True
        self._topic_service(chat, topic, {"forum_topic_closed": {}}, self.bot_user)
        return True

    def _reopen_forum_topic(self, p: dict, files: dict) -> bool:
        chat, topic = self._api_topic(p, "can_manage_topics", NO_RIGHT_TO_CLOSE)
        if not topic.closed:
            raise bad_request(TOPIC_NOT_MODIFIED)
        topic.closed = False
        self._topic_service(chat, topic, {"forum_topic_reopened": {}}, self.bot_user)
        return True

    def _delete_forum_topic(self, p: dict, files: dict) -> bool:
        chat, topic = self._api_topic(p, "can_delete_messages", NO_RIGHT_TO_DELETE)
        self._drop_topic(chat, topic.thread_id)
        return True

    def _get_forum_topic_icon_stickers(self, p: dict, files: dict) -> list:
        return []  # the sandbox has no custom emoji

    # -- internals ------------------------------------------------------------------------------

    def _topic_service(self, chat: _Chat, topic: _Topic, service: dict, sender: dict) -> dict:
        """Store a topic's service message (created, edited, closed, reopened) in the topic; one
        sent by a person reaches the bot as an update, the bot's own do not."""
        fields = {
            **service,
            "message_thread_id": topic.thread_id,
            "is_topic_message": True,
        }
        reply_to = chat.messages.get(topic.thread_id)
        message = self._store_message(chat, sender, fields, reply_to)
        if sender["id"] != self.bot_user["id"]:
            self._enqueue("message", _public(message))
        return _public(message)

    def _drop_topic(self, chat: _Chat, thread_id: int) -> None:
        chat.topics.pop(thread_id, None)
        for message_id, message in list(chat.messages.items()):
            if message.get("message_thread_id") == thread_id:
                del chat.messages[message_id]
                self._emit("delete", chat.info["id"], message)
        self._signal_change()
