"""Attachments (on-site photo, signed slip): stored under ``instance/uploads`` with random names.

Only images and PDF up to 5 MB are kept; the type is read from the file's first bytes, not
from what the browser claims. Next to each file a small JSON record says which work order
and task it belongs to, so downloads are checked against the same rules as the order page.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

MAX_BYTES = 5 * 1024 * 1024
_ID = re.compile(r"^[0-9a-f]{32}$")
_SIGNATURES = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
]


class UploadRefused(ValueError):
    """The file is too large or not an image or PDF (the message is for the user)."""


@dataclass(frozen=True)
class Stored:
    id: str
    instance_id: int
    task_id: str
    content_type: str
    filename: str
    size: int
    uploaded_by: str
    uploaded_at: str


def folder() -> str:
    path = current_app.config.get("UPLOAD_DIR") or os.path.join(current_app.instance_path, "uploads")
    os.makedirs(path, exist_ok=True)
    return path


def sniff(head: bytes) -> str | None:
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def store(upload: FileStorage, *, instance_id: int, task_id: str, username: str, when: datetime) -> Stored:
    """Keep an uploaded file; return its record.

    :raises UploadRefused: empty, over 5 MB, or neither an image nor a PDF
    """
    content = upload.stream.read(MAX_BYTES + 1)
    if not content:
        raise UploadRefused(gettext("文件为空"))
    if len(content) > MAX_BYTES:
        raise UploadRefused(gettext("文件不能超过 5 MB"))
    kind = sniff(content[:16])
    if kind is None:
        raise UploadRefused(gettext("只接受图片（JPEG、PNG、GIF、WebP）或 PDF 文件"))
    file_id = secrets.token_hex(16)
    base = folder()
    with open(os.path.join(base, file_id), "xb") as fh:
        fh.write(content)
    record = Stored(file_id, instance_id, task_id, kind, secure_filename(upload.filename or "") or file_id,
                    len(content), username, when.isoformat())
    with open(os.path.join(base, file_id + ".json"), "x", encoding="utf-8") as fh:
        json.dump(record.__dict__, fh, ensure_ascii=False)
    return record


def lookup(file_id: str) -> Stored | None:
    """The record of a stored file, or None for an unknown or malformed id."""
    if not isinstance(file_id, str) or not _ID.match(file_id):
        return None
    try:
        with open(os.path.join(folder(), file_id + ".json"), encoding="utf-8") as fh:
            return Stored(**json.load(fh))
    except (OSError, ValueError, TypeError):
        return None


def path_of(stored: Stored) -> str:
    return os.path.join(folder(), stored.id)
