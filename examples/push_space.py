"""Create or update the Hugging Face Space that serves the LEAD evaluate module (``metric/lead``).

After it, anyone can ``evaluate.load("<namespace>/lead")``. Needs a write token: log in once with
``hf auth login`` (or set ``HF_TOKEN``); ``--token`` also works but leaves the token in your shell history.

    python examples/push_space.py my-org/lead --dry-run     # list what would be uploaded
    python examples/push_space.py my-org/lead [--private]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi
from huggingface_hub.utils import HFValidationError, validate_repo_id

MODULE_DIR = Path(__file__).resolve().parents[1] / "metric" / "lead"
# The four files of an evaluate community module; nothing else (no __pycache__, no editor files) is pushed.
MODULE_FILES = ("lead.py", "README.md", "app.py", "requirements.txt")


def check_space_id(repo_id: str) -> str:
    """Return ``repo_id`` if it names a Space as ``evaluate.load`` needs it (``namespace/name``), else raise.

    Raises:
        ValueError: no namespace, more than one ``/``, or characters the Hub refuses.
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ValueError(
            f"Space id must be 'namespace/name' (your user or organisation, then the module name), got {repo_id!r}; "
            "evaluate.load resolves 'namespace/name' to a Space."
        )
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"Invalid Space id {repo_id!r}: {err}") from None
    return repo_id


def push_space(
    repo_id: str,
    *,
    folder: Path = MODULE_DIR,
    private: bool = False,
    token: str | None = None,
    dry_run: bool = False,
    commit_message: str = "Update the LEAD evaluate module",
    api: Any = None,
) -> list[str]:
    """Create the Gradio Space ``repo_id`` if needed and upload the module files to it.

    Args:
        repo_id (`str`): ``namespace/name`` of the Space.
        folder (`Path`, *optional*): the module folder, ``metric/lead`` of this checkout by default.
        private (`bool`, *optional*): create the Space private (an existing Space keeps its visibility).
        token (`str`, *optional*): Hub token; by default huggingface_hub's login or ``HF_TOKEN``.
        dry_run (`bool`, *optional*): validate and return the file list without contacting the Hub.
        commit_message (`str`, *optional*): message of the upload commit.
        api (`HfApi`, *optional*): client to use (tests pass a fake); ``HfApi(token=token)`` by default.

    Returns:
        `list[str]`: the uploaded (or, with ``dry_run``, the to-be-uploaded) file names.

    Raises:
        ValueError: invalid Space id.
        FileNotFoundError: a module file is missing from ``folder``.
    """
    check_space_id(repo_id)
    missing = [name for name in MODULE_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks the module file(s) {missing}; run from a lead-hf checkout.")
    files = list(MODULE_FILES)
    if dry_run:
        return files
    api = api if api is not None else HfApi(token=token)
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True, token=token)
    api.upload_folder(
        repo_id=repo_id,
        repo_type="space",
        folder_path=folder,
        allow_patterns=files,
        commit_message=commit_message,
        token=token,
    )
    return files


def main(argv: Sequence[str] | None = None, *, api: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo_id", help="the Space, as namespace/name (e.g. my-org/lead)")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--token", help="Hub token (default: your `hf auth login` token or HF_TOKEN)")
    parser.add_argument("--dry-run", action="store_true", help="list the files, contact nobody")
    args = parser.parse_args(argv)
    try:
        files = push_space(args.repo_id, private=args.private, token=args.token, dry_run=args.dry_run, api=api)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))  # exits with status 2
    action = "Would upload" if args.dry_run else "Uploaded"
    print(f"{action} {', '.join(files)} to the Space {args.repo_id}.")
    if not args.dry_run:
        print(f'Load it with: evaluate.load("{args.repo_id}")')
    return 0


if __name__ == "__main__":
    sys.exit(main())
