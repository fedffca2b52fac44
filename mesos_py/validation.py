"""Validation of operator API calls, as Mesos 1.11's agent does it.

`validate_call` mirrors `validation::agent::call::validate`: it returns the
error message (without the "Failed to validate agent::Call: " prefix that the
HTTP layer adds) or None. The pieces it uses are public as well:
`validate_container_id`, `validate_id`, `validate_command_info`,
`validate_environment`, `validate_secret`, `validate_container_info`,
`validate_volume`, `validate_gpus`, `validate_standalone_resources` and
`initialization_errors`.

Mesos 1.11 checks `launch_container.limits` only in one place: a container
nested at the second level or deeper may not set any. The limit values
themselves are not validated by the agent's API.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Sequence

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mesos_py import resources as res
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.agent import agent_pb2

Call = agent_pb2.Call

NAME_MAX = 255
MAX_CONTAINER_ID_LENGTH = 242

_WINDOWS_PATH_SEPARATOR = "\\"
_POSIX_PATH_SEPARATOR = "/"


# ======================================================== initialization
def initialization_errors(message: Message, prefix: str = "") -> list[str]:
    """The unset required fields as protobuf C++'s `FindInitializationErrors`
    lists them: this message's own required fields in declaration order, then
    those of the set sub-messages in field-number order (`a.b`, `list[0].c`)."""
    errors = []
    descriptor = message.DESCRIPTOR
    for field in descriptor.fields:
        if _is_required(field) and not message.HasField(field.name):
            errors.append(prefix + field.name)
    listed: Sequence[tuple[Any, Any]] = message.ListFields()
    for field, value in listed:
        if field.type not in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
            continue
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            for index, key in enumerate(value):
                errors.extend(initialization_errors(
                    value[key], f"{prefix}{field.name}[{index}].value."))
        elif _is_repeated(field):
            for index, item in enumerate(value):
                errors.extend(initialization_errors(item, f"{prefix}{field.name}[{index}]."))
        else:
            errors.extend(initialization_errors(value, f"{prefix}{field.name}."))
    return errors


def _is_required(field: Any) -> bool:
    return bool(field.is_required)


def _is_repeated(field: Any) -> bool:
    return bool(field.is_repeated)


def _is_map(field: Any) -> bool:
    return (field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None
            and field.message_type.GetOptions().map_entry)


# ==================================================================== IDs
def _byte_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def validate_id(value: str) -> str | None:
    """Mesos's `common::validation::validateID`."""
    if not value:
        return "ID must not be empty"
    if _byte_length(value) > NAME_MAX:
        return f"ID must not be greater than {NAME_MAX} characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if any(ord(char) < 0x20 or ord(char) == 0x7F or
           char in (_POSIX_PATH_SEPARATOR, _WINDOWS_PATH_SEPARATOR) for char in value):
        return f"'{value}' contains invalid characters"
    return None


def validate_container_id(container_id: mesos_pb2.ContainerID) -> str | None:
    """Mesos's `validateContainerId` (recursing into the parents)."""
    value = container_id.value
    error = validate_id(value)
    if error is not None:
        return error
    if _byte_length(value) > MAX_CONTAINER_ID_LENGTH:
        return (f"'ContainerID.value' '{value}' exceeds the maximum"
                f" length ({MAX_CONTAINER_ID_LENGTH})")
    if "." in value or " " in value:
        return f"'ContainerID.value' '{value}' contains invalid characters"
    if container_id.HasField("parent"):
        error = validate_container_id(container_id.parent)
        if error is not None:
            return f"'ContainerID.parent' is invalid: {error}"
    return None


# ============================================================ environment
def validate_secret(secret: mesos_pb2.Secret) -> str | None:
    if secret.type == mesos_pb2.Secret.REFERENCE:
        if not secret.HasField("reference"):
            return "Secret of type REFERENCE must have the 'reference' field set"
        if secret.HasField("value"):
            return (f"Secret '{secret.reference.name}' of type REFERENCE "
                    "must not have the 'value' field set")
    elif secret.type == mesos_pb2.Secret.VALUE:
        if not secret.HasField("value"):
            return "Secret of type VALUE must have the 'value' field set"
        if secret.HasField("reference"):
            return "Secret of type VALUE must not have the 'reference' field set"
    return None


def validate_environment(environment: mesos_pb2.Environment) -> str | None:
    """Mesos's `validateEnvironment`: each variable's type matches its fields."""
    Variable = mesos_pb2.Environment.Variable
    for variable in environment.variables:
        if variable.type == Variable.SECRET:
            if not variable.HasField("secret"):
                return (f"Environment variable '{variable.name}' of type 'SECRET' "
                        "must have a secret set")
            if variable.HasField("value"):
                return (f"Environment variable '{variable.name}' of type 'SECRET' "
                        "must not have a value set")
            error = validate_secret(variable.secret)
            if error is not None:
                return (f"Environment variable '{variable.name}' specifies an "
                        f"invalid secret: {error}")
            if b"\0" in variable.secret.value.data:
                return (f"Environment variable '{variable.name}' specifies a "
                        "secret containing null bytes, which is not allowed in the "
                        "environment")
        elif variable.type == Variable.VALUE:
            if not variable.HasField("value"):
                return (f"Environment variable '{variable.name}' of type 'VALUE' "
                        "must have a value set")
            if variable.HasField("secret"):
                return (f"Environment variable '{variable.name}' of type 'VALUE' "
                        "must not have a secret set")
        else:
            return "Environment variable of type 'UNKNOWN' is not allowed"
    return None


def validate_command_info(command: mesos_pb2.CommandInfo) -> str | None:
    """Mesos's `validateCommandInfo` (only the environment is checked)."""
    return validate_environment(command.environment)


# ============================================================== containers
def validate_volume(volume: mesos_pb2.Volume) -> str | None:
    """Mesos's `validateVolume`: exactly one of host_path/image/source, and a
    source whose type matches the field it sets."""
    count = sum(1 for name in ("host_path", "image", "source") if volume.HasField(name))
    if count != 1:
        return "Only one of them should be set: 'host_path', 'image' and 'source'"
    if volume.HasField("source"):
        source = volume.source
        Source = mesos_pb2.Volume.Source
        if source.type == Source.DOCKER_VOLUME:
            if not source.HasField("docker_volume"):
                return "'source.docker_volume' is not set for DOCKER_VOLUME volume"
        elif source.type == Source.HOST_PATH:
            if not source.HasField("host_path"):
                return "'source.host_path' is not set for HOST_PATH volume"
        elif source.type == Source.SANDBOX_PATH:
            if not source.HasField("sandbox_path"):
                return "'source.sandbox_path' is not set for SANDBOX_PATH volume"
        elif source.type == Source.SECRET:
            if not source.HasField("secret"):
                return "'source.secret' is not set for SECRET volume"
        elif source.type == Source.CSI_VOLUME:
            if not source.HasField("csi_volume"):
                return "'source.csi_volume' is not set for CSI volume"
            if not source.csi_volume.HasField("static_provisioning"):
                return "'source.csi_volume.static_provisioning' is not set for CSI volume"
        else:
            return "'source.type' is unknown"
    return None


def validate_container_info(container: mesos_pb2.ContainerInfo) -> str | None:
    """Mesos's `validateContainerInfo`: volumes, and DockerInfo for DOCKER."""
    for volume in container.volumes:
        error = validate_volume(volume)
        if error is not None:
            return f"Invalid volume: {error}"
    if container.type == mesos_pb2.ContainerInfo.DOCKER:
        if not container.HasField("docker"):
            return "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
        for parameter in container.docker.parameters:
            if parameter.key == "name":
                return "Parameter in DockerInfo must not be 'name'"
    return None


# =============================================================== resources
def validate_gpus(resources: Iterable[mesos_pb2.Resource]) -> str | None:
    """Mesos's `validateGpus`: the total of `gpus` must be a whole number."""
    total = res.gpus(resources) or 0.0
    if int(total * 1000.0) % 1000 != 0:
        return "The 'gpus' resource must be an unsigned integer"
    return None


def validate_standalone_resources(resources: Iterable[mesos_pb2.Resource]) -> str | None:
    """The extra rules for a top-level (standalone) container's resources."""
    for original in resources:
        resource = copy.deepcopy(original)
        res.upgrade_resource(resource)
        if res.is_reserved(resource):
            return "'launch_container.resources' must be unreserved"
        if res.is_persistent_volume(resource):
            return "'launch_container.resources' may not use persistent volumes"
        if res.is_revocable(resource):
            return "'launch_container.resources' must be non-revocable"
    return None


# =================================================================== calls
def _nested_id(field: str, container_id: mesos_pb2.ContainerID) -> str | None:
    error = validate_container_id(container_id)
    if error is not None:
        return f"'{field}.container_id' is invalid: {error}"
    if not container_id.HasField("parent"):
        return f"Expecting '{field}.container_id.parent' to be present"
    return None


def _container_id(field: str, container_id: mesos_pb2.ContainerID) -> str | None:
    error = validate_container_id(container_id)
    if error is not None:
        return f"'{field}.container_id' is invalid: {error}"
    return None


def _launch_nested_container(launch: Call.LaunchNestedContainer) -> str | None:
    error = _nested_id("launch_nested_container", launch.container_id)
    if error is not None:
        return error
    if launch.HasField("command"):
        error = validate_command_info(launch.command)
        if error is not None:
            return f"'launch_nested_container.command' is invalid: {error}"
    if launch.HasField("container"):
        error = validate_container_info(launch.container)
        if error is not None:
            return f"'launch_nested_container.container' is invalid: {error}"
        linux = launch.container.linux_info
        if (launch.container.HasField("linux_info") and linux.HasField("share_cgroups")
                and not linux.share_cgroups and launch.container_id.parent.HasField("parent")):
            return ("'launch_nested_container' is invalid: containers nested at "
                    "the second level or greater cannot set 'share_cgroups' to "
                    "'false'")
    return None


def _launch_nested_container_session(launch: Call.LaunchNestedContainerSession) -> str | None:
    error = _nested_id("launch_nested_container_session", launch.container_id)
    if error is not None:
        return error
    if launch.HasField("command"):
        error = validate_command_info(launch.command)
        if error is not None:
            return f"'launch_nested_container_session.command' is invalid: {error}"
    if launch.HasField("container"):
        error = validate_container_info(launch.container)
        if error is not None:
            return f"'launch_nested_container_session.container' is invalid: {error}"
        if (launch.container.HasField("linux_info")
                and not launch.container.linux_info.share_cgroups):
            return ("'launch_nested_container_session.container.linux_info' is "
                    "invalid: 'share_cgroups' cannot be set to 'false' for nested "
                    "container sessions")
    return None


def _attach_container_input(attach: Call.AttachContainerInput) -> str | None:
    if not attach.HasField("type"):
        return "Expecting 'attach_container_input.type' to be present"
    if attach.type == Call.AttachContainerInput.UNKNOWN:
        return "'attach_container_input.type' is unknown"
    if attach.type == Call.AttachContainerInput.CONTAINER_ID:
        return _container_id("attach_container_input", attach.container_id)
    return None


def validate_launch_container(launch: Call.LaunchContainer) -> str | None:
    """The LAUNCH_CONTAINER rules (top-level and nested containers)."""
    error = _container_id("launch_container", launch.container_id)
    if error is not None:
        return error

    error = res.validate_resources(launch.resources)
    if error is not None:
        return f"Invalid resources: {error}"
    error = validate_gpus(launch.resources)
    if error is not None:
        return f"Invalid GPU resources: {error}"

    if not launch.container_id.HasField("parent"):
        error = validate_standalone_resources(launch.resources)
        if error is not None:
            return error

    if launch.HasField("command"):
        error = validate_command_info(launch.command)
        if error is not None:
            return f"'launch_container.command' is invalid: {error}"
    if launch.HasField("container"):
        error = validate_container_info(launch.container)
        if error is not None:
            return f"'launch_container.container' is invalid: {error}"

    linux = launch.container.linux_info
    explicit_share = (launch.HasField("container") and launch.container.HasField("linux_info")
                      and linux.HasField("share_cgroups"))
    share_cgroups = linux.share_cgroups if explicit_share else True
    twice_nested = (launch.container_id.HasField("parent")
                    and launch.container_id.parent.HasField("parent"))

    if twice_nested and len(launch.resources) > 0:
        return ("'launch_container' is invalid: containers nested at the "
                "second level or greater cannot specify resources")
    if twice_nested and len(launch.limits) > 0:
        return ("'launch_container' is invalid: containers nested at the "
                "second level or greater cannot specify resource limits")
    if twice_nested and not share_cgroups:
        return ("'launch_container' is invalid: containers nested at the "
                "second level or greater cannot set 'share_cgroups' to "
                "'false'")
    if (not launch.container_id.HasField("parent") and linux.HasField("share_cgroups")
            and share_cgroups):
        return ("'launch_container' is invalid: containers without a parent "
                "cannot set 'share_cgroups' to 'true'")
    return None


# Calls that need nothing but their own field: type -> field name.
_PRESENCE_ONLY = {
    Call.GET_METRICS: "get_metrics",
    Call.SET_LOGGING_LEVEL: "set_logging_level",
    Call.LIST_FILES: "list_files",
    Call.READ_FILE: "read_file",
    Call.REMOVE_RESOURCE_PROVIDER_CONFIG: "remove_resource_provider_config",
    Call.MARK_RESOURCE_PROVIDER_GONE: "mark_resource_provider_gone",
}

# Calls that carry a (top-level or nested) container ID and nothing else to check.
_CONTAINER_ID_CALLS = {
    Call.WAIT_CONTAINER: "wait_container",
    Call.KILL_CONTAINER: "kill_container",
    Call.REMOVE_CONTAINER: "remove_container",
    Call.ATTACH_CONTAINER_OUTPUT: "attach_container_output",
}

_NESTED_ID_CALLS = {
    Call.WAIT_NESTED_CONTAINER: "wait_nested_container",
    Call.KILL_NESTED_CONTAINER: "kill_nested_container",
    Call.REMOVE_NESTED_CONTAINER: "remove_nested_container",
}


def validate_call(call: agent_pb2.Call) -> str | None:
    """Mesos's `validation::agent::call::validate`: the error or None."""
    missing = initialization_errors(call)
    if missing:
        return "Not initialized: " + ", ".join(missing)
    if not call.HasField("type"):
        return "Expecting 'type' to be present"

    kind = call.type
    if kind in _PRESENCE_ONLY:
        field = _PRESENCE_ONLY[kind]
        return None if call.HasField(field) else f"Expecting '{field}' to be present"

    if kind in _CONTAINER_ID_CALLS:
        field = _CONTAINER_ID_CALLS[kind]
        if not call.HasField(field):
            return f"Expecting '{field}' to be present"
        return _container_id(field, getattr(call, field).container_id)

    if kind in _NESTED_ID_CALLS:
        field = _NESTED_ID_CALLS[kind]
        if not call.HasField(field):
            return f"Expecting '{field}' to be present"
        return _nested_id(field, getattr(call, field).container_id)

    if kind == Call.LAUNCH_NESTED_CONTAINER:
        if not call.HasField("launch_nested_container"):
            return "Expecting 'launch_nested_container' to be present"
        return _launch_nested_container(call.launch_nested_container)

    if kind == Call.LAUNCH_NESTED_CONTAINER_SESSION:
        if not call.HasField("launch_nested_container_session"):
            return "Expecting 'launch_nested_container_session' to be present"
        return _launch_nested_container_session(call.launch_nested_container_session)

    if kind == Call.ATTACH_CONTAINER_INPUT:
        if not call.HasField("attach_container_input"):
            return "Expecting 'attach_container_input' to be present"
        return _attach_container_input(call.attach_container_input)

    if kind == Call.LAUNCH_CONTAINER:
        if not call.HasField("launch_container"):
            return "Expecting 'launch_container' to be present"
        return validate_launch_container(call.launch_container)

    if kind in (Call.ADD_RESOURCE_PROVIDER_CONFIG, Call.UPDATE_RESOURCE_PROVIDER_CONFIG):
        field = ("add_resource_provider_config" if kind == Call.ADD_RESOURCE_PROVIDER_CONFIG
                 else "update_resource_provider_config")
        if not call.HasField(field):
            return f"Expecting '{field}' to be present"
        if getattr(call, field).info.HasField("id"):
            return f"Expecting '{field}.info.id' to be unset"
        return None

    # UNKNOWN, GET_HEALTH, GET_FLAGS, GET_VERSION, GET_LOGGING_LEVEL, GET_STATE,
    # GET_CONTAINERS, GET_FRAMEWORKS, GET_EXECUTORS, GET_OPERATIONS, GET_TASKS,
    # GET_AGENT, GET_RESOURCE_PROVIDERS, PRUNE_IMAGES: nothing to check.
    return None
