"""The publish plan, for both ways of publishing (upload.py and publish_ci.py): compare
each local file with the Hub's copy (upload or skip, and why), list the Hub's stale files
(delete or keep), print the plan, and word the commit.

No command of its own; hubclient.py talks to the Hub, this file only decides and words.
"""

from __future__ import annotations

import common
from hubclient import Item


def stale_items(names: list[str], folder: str, wanted: set[str], delete: bool, why: str) -> list[Item]:
    """Plan lines for the files under ``folder`` (e.g. "data/") on the Hub that are not in
    ``wanted``: "delete" (in the same commit) or, without ``delete``, "stale" (listed only)."""
    return [Item(n, action="delete" if delete else "stale", reason=f"stale on the Hub: {why}")
            for n in names if n.startswith(folder) and n not in wanted]


def unchanged(item: Item, remote) -> bool:
    """Does the remote file (RepoFile or None) hold the item's content? An LFS file is
    compared by SHA-256, any other by its git blob id."""
    if remote is None:
        return False
    return remote.lfs.sha256 == item.sha256 if remote.lfs is not None else remote.blob_id == item.git_sha1


def decide(item: Item, remote) -> None:
    """Set item.action and item.reason from the remote file (RepoFile or None)."""
    same = unchanged(item, remote)
    item.action = "skip" if same else "upload"
    if remote is None:
        item.reason = "new (not on the Hub)"
    elif remote.lfs is not None:
        item.reason = "unchanged (same SHA-256)" if same else "changed (SHA-256 differs)"
    else:
        item.reason = "unchanged (same content)" if same else "changed (content differs)"


def print_plan(repo_id: str, head: str | None, items: list[Item], notes: list[str],
               aside: list[Item] = ()) -> None:
    where = f"datasets/{repo_id}" + (f" at {head[:7]}" if head else "")
    print(f"Plan for {where}:")
    width = max(len(i.path_in_repo) for i in [*items, *aside])
    for i in [*items, *aside]:  # aside: local files not sent (ignored strays, omitted targets)
        size = common.human_bytes(i.size) if i.local else "-"
        print(f"  {i.action:<6}  {i.path_in_repo:<{width}}  {size:>10}  {i.reason}")
    stale = [i for i in items if i.action in ("delete", "stale")]
    items = [i for i in items if i not in stale]
    send = [i for i in items if i.action == "upload"]
    to_send = sum(i.size for i in send)
    kept = sum(i.size for i in items if i.action != "upload")
    print(f"{len(send)} of {len(items)} files to upload, {common.human_bytes(to_send)} to send "
          f"({to_send:,} bytes); {len(items) - len(send)} skipped ({common.human_bytes(kept)} not sent)"
          + "".join(f"; {n} {what}" for what in ("ignore", "omit")
                    if (n := sum(1 for i in aside if i.action == what)))
          + "".join(f"; {n} {label}" for what, label in (("delete", "to delete"), ("stale", "stale on the Hub, kept"))
                    if (n := sum(1 for i in stale if i.action == what)))
          + ".")
    for note in notes:
        print(f"note: {note}")


def commit_message(head: str, what: str, items: list[Item]) -> tuple[str, str]:
    """(summary, description) of a commit: "<head>: add N and update M of K <what>, extras",
    and one line per file with the reason it is sent or skipped."""
    data = [i for i in items if i.path_in_repo.endswith(".parquet")]
    send = [i for i in data if i.action == "upload"]
    new = sum(1 for i in send if i.new)
    parts = []
    if new:
        parts.append(f"add {new}")
    if len(send) - new:
        parts.append(f"update {len(send) - new}")
    summary = f"{' and '.join(parts)} of {len(data)} {what}" if parts else ""
    extras = [i.path_in_repo.rsplit("/", 1)[-1] for i in items
              if i.action == "upload" and not i.path_in_repo.endswith(".parquet")]
    if extras:
        summary = f"{summary}, {', '.join(extras)}" if summary else f"update {', '.join(extras)}"
    deleted = [i.path_in_repo for i in items if i.action == "delete"]
    if deleted:
        gone = f"delete {len(deleted)} stale file{'s' if len(deleted) > 1 else ''}"
        summary = f"{summary}; {gone}" if summary else gone
    description = "\n".join(f"- {i.path_in_repo}: {i.reason}" for i in items)
    return f"{head}: {summary}", description + "\n\nPublished by prepare-annotations."
