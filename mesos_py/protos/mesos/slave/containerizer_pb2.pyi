from mesos_py.protos.mesos.v1 import mesos_pb2 as _mesos_pb2
from mesos_py.protos.mesos.appc import spec_pb2 as _spec_pb2
from mesos_py.protos.mesos.docker import v1_pb2 as _v1_pb2
from mesos_py.protos.mesos.seccomp import seccomp_pb2 as _seccomp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContainerClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEFAULT: _ClassVar[ContainerClass]
    DEBUG: _ClassVar[ContainerClass]
DEFAULT: ContainerClass
DEBUG: ContainerClass

class ContainerLimitation(_message.Message):
    __slots__ = ("resources", "message", "reason")
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
    message: str
    reason: _mesos_pb2.TaskStatus.Reason
    def __init__(self, resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ..., message: _Optional[str] = ..., reason: _Optional[_Union[_mesos_pb2.TaskStatus.Reason, str]] = ...) -> None: ...

class ContainerState(_message.Message):
    __slots__ = ("executor_info", "container_info", "container_id", "pid", "directory", "ephemeral_volumes")
    EXECUTOR_INFO_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_INFO_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    executor_info: _mesos_pb2.ExecutorInfo
    container_info: _mesos_pb2.ContainerInfo
    container_id: _mesos_pb2.ContainerID
    pid: int
    directory: str
    ephemeral_volumes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, executor_info: _Optional[_Union[_mesos_pb2.ExecutorInfo, _Mapping]] = ..., container_info: _Optional[_Union[_mesos_pb2.ContainerInfo, _Mapping]] = ..., container_id: _Optional[_Union[_mesos_pb2.ContainerID, _Mapping]] = ..., pid: _Optional[int] = ..., directory: _Optional[str] = ..., ephemeral_volumes: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerRecoverInfo(_message.Message):
    __slots__ = ("checkpointed_container_states", "orphan_container_ids", "known_container_ids")
    CHECKPOINTED_CONTAINER_STATES_FIELD_NUMBER: _ClassVar[int]
    ORPHAN_CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    checkpointed_container_states: _containers.RepeatedCompositeFieldContainer[ContainerState]
    orphan_container_ids: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.ContainerID]
    known_container_ids: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.ContainerID]
    def __init__(self, checkpointed_container_states: _Optional[_Iterable[_Union[ContainerState, _Mapping]]] = ..., orphan_container_ids: _Optional[_Iterable[_Union[_mesos_pb2.ContainerID, _Mapping]]] = ..., known_container_ids: _Optional[_Iterable[_Union[_mesos_pb2.ContainerID, _Mapping]]] = ...) -> None: ...

class ContainerConfig(_message.Message):
    __slots__ = ("executor_info", "task_info", "command_info", "container_info", "resources", "limits", "container_class", "directory", "ephemeral_volumes", "user", "rootfs", "docker", "appc")
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _mesos_pb2.Value.Scalar
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_mesos_pb2.Value.Scalar, _Mapping]] = ...) -> None: ...
    class Docker(_message.Message):
        __slots__ = ("manifest",)
        MANIFEST_FIELD_NUMBER: _ClassVar[int]
        manifest: _v1_pb2.ImageManifest
        def __init__(self, manifest: _Optional[_Union[_v1_pb2.ImageManifest, _Mapping]] = ...) -> None: ...
    class Appc(_message.Message):
        __slots__ = ("manifest",)
        MANIFEST_FIELD_NUMBER: _ClassVar[int]
        manifest: _spec_pb2.ImageManifest
        def __init__(self, manifest: _Optional[_Union[_spec_pb2.ImageManifest, _Mapping]] = ...) -> None: ...
    EXECUTOR_INFO_FIELD_NUMBER: _ClassVar[int]
    TASK_INFO_FIELD_NUMBER: _ClassVar[int]
    COMMAND_INFO_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_INFO_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_CLASS_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ROOTFS_FIELD_NUMBER: _ClassVar[int]
    DOCKER_FIELD_NUMBER: _ClassVar[int]
    APPC_FIELD_NUMBER: _ClassVar[int]
    executor_info: _mesos_pb2.ExecutorInfo
    task_info: _mesos_pb2.TaskInfo
    command_info: _mesos_pb2.CommandInfo
    container_info: _mesos_pb2.ContainerInfo
    resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
    limits: _containers.MessageMap[str, _mesos_pb2.Value.Scalar]
    container_class: ContainerClass
    directory: str
    ephemeral_volumes: _containers.RepeatedScalarFieldContainer[str]
    user: str
    rootfs: str
    docker: ContainerConfig.Docker
    appc: ContainerConfig.Appc
    def __init__(self, executor_info: _Optional[_Union[_mesos_pb2.ExecutorInfo, _Mapping]] = ..., task_info: _Optional[_Union[_mesos_pb2.TaskInfo, _Mapping]] = ..., command_info: _Optional[_Union[_mesos_pb2.CommandInfo, _Mapping]] = ..., container_info: _Optional[_Union[_mesos_pb2.ContainerInfo, _Mapping]] = ..., resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ..., limits: _Optional[_Mapping[str, _mesos_pb2.Value.Scalar]] = ..., container_class: _Optional[_Union[ContainerClass, str]] = ..., directory: _Optional[str] = ..., ephemeral_volumes: _Optional[_Iterable[str]] = ..., user: _Optional[str] = ..., rootfs: _Optional[str] = ..., docker: _Optional[_Union[ContainerConfig.Docker, _Mapping]] = ..., appc: _Optional[_Union[ContainerConfig.Appc, _Mapping]] = ...) -> None: ...

class ContainerMountInfo(_message.Message):
    __slots__ = ("target", "source", "type", "flags", "options")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    target: str
    source: str
    type: str
    flags: int
    options: str
    def __init__(self, target: _Optional[str] = ..., source: _Optional[str] = ..., type: _Optional[str] = ..., flags: _Optional[int] = ..., options: _Optional[str] = ...) -> None: ...

class ContainerFileOperation(_message.Message):
    __slots__ = ("operation", "symlink", "mkdir", "rename", "mount")
    class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SYMLINK: _ClassVar[ContainerFileOperation.Operation]
        MOUNT: _ClassVar[ContainerFileOperation.Operation]
        RENAME: _ClassVar[ContainerFileOperation.Operation]
        MKDIR: _ClassVar[ContainerFileOperation.Operation]
    SYMLINK: ContainerFileOperation.Operation
    MOUNT: ContainerFileOperation.Operation
    RENAME: ContainerFileOperation.Operation
    MKDIR: ContainerFileOperation.Operation
    class Symlink(_message.Message):
        __slots__ = ("source", "target")
        SOURCE_FIELD_NUMBER: _ClassVar[int]
        TARGET_FIELD_NUMBER: _ClassVar[int]
        source: str
        target: str
        def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...
    class Rename(_message.Message):
        __slots__ = ("source", "target")
        SOURCE_FIELD_NUMBER: _ClassVar[int]
        TARGET_FIELD_NUMBER: _ClassVar[int]
        source: str
        target: str
        def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...
    class Mkdir(_message.Message):
        __slots__ = ("target", "recursive")
        TARGET_FIELD_NUMBER: _ClassVar[int]
        RECURSIVE_FIELD_NUMBER: _ClassVar[int]
        target: str
        recursive: bool
        def __init__(self, target: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SYMLINK_FIELD_NUMBER: _ClassVar[int]
    MKDIR_FIELD_NUMBER: _ClassVar[int]
    RENAME_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    operation: ContainerFileOperation.Operation
    symlink: ContainerFileOperation.Symlink
    mkdir: ContainerFileOperation.Mkdir
    rename: ContainerFileOperation.Rename
    mount: ContainerMountInfo
    def __init__(self, operation: _Optional[_Union[ContainerFileOperation.Operation, str]] = ..., symlink: _Optional[_Union[ContainerFileOperation.Symlink, _Mapping]] = ..., mkdir: _Optional[_Union[ContainerFileOperation.Mkdir, _Mapping]] = ..., rename: _Optional[_Union[ContainerFileOperation.Rename, _Mapping]] = ..., mount: _Optional[_Union[ContainerMountInfo, _Mapping]] = ...) -> None: ...

class ContainerLaunchInfo(_message.Message):
    __slots__ = ("pre_exec_commands", "environment", "rootfs", "enter_namespaces", "clone_namespaces", "user", "supplementary_groups", "command", "working_directory", "mounts", "masked_paths", "file_operations", "seccomp_profile", "effective_capabilities", "bounding_capabilities", "rlimits", "tty_slave_path", "task_environment", "task_supplementary_groups", "no_new_privileges")
    PRE_EXEC_COMMANDS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    ROOTFS_FIELD_NUMBER: _ClassVar[int]
    ENTER_NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    CLONE_NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    SUPPLEMENTARY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    MASKED_PATHS_FIELD_NUMBER: _ClassVar[int]
    FILE_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    SECCOMP_PROFILE_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    BOUNDING_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    RLIMITS_FIELD_NUMBER: _ClassVar[int]
    TTY_SLAVE_PATH_FIELD_NUMBER: _ClassVar[int]
    TASK_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    TASK_SUPPLEMENTARY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NO_NEW_PRIVILEGES_FIELD_NUMBER: _ClassVar[int]
    pre_exec_commands: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.CommandInfo]
    environment: _mesos_pb2.Environment
    rootfs: str
    enter_namespaces: _containers.RepeatedScalarFieldContainer[int]
    clone_namespaces: _containers.RepeatedScalarFieldContainer[int]
    user: str
    supplementary_groups: _containers.RepeatedScalarFieldContainer[int]
    command: _mesos_pb2.CommandInfo
    working_directory: str
    mounts: _containers.RepeatedCompositeFieldContainer[ContainerMountInfo]
    masked_paths: _containers.RepeatedScalarFieldContainer[str]
    file_operations: _containers.RepeatedCompositeFieldContainer[ContainerFileOperation]
    seccomp_profile: _seccomp_pb2.ContainerSeccompProfile
    effective_capabilities: _mesos_pb2.CapabilityInfo
    bounding_capabilities: _mesos_pb2.CapabilityInfo
    rlimits: _mesos_pb2.RLimitInfo
    tty_slave_path: str
    task_environment: _mesos_pb2.Environment
    task_supplementary_groups: _containers.RepeatedScalarFieldContainer[int]
    no_new_privileges: bool
    def __init__(self, pre_exec_commands: _Optional[_Iterable[_Union[_mesos_pb2.CommandInfo, _Mapping]]] = ..., environment: _Optional[_Union[_mesos_pb2.Environment, _Mapping]] = ..., rootfs: _Optional[str] = ..., enter_namespaces: _Optional[_Iterable[int]] = ..., clone_namespaces: _Optional[_Iterable[int]] = ..., user: _Optional[str] = ..., supplementary_groups: _Optional[_Iterable[int]] = ..., command: _Optional[_Union[_mesos_pb2.CommandInfo, _Mapping]] = ..., working_directory: _Optional[str] = ..., mounts: _Optional[_Iterable[_Union[ContainerMountInfo, _Mapping]]] = ..., masked_paths: _Optional[_Iterable[str]] = ..., file_operations: _Optional[_Iterable[_Union[ContainerFileOperation, _Mapping]]] = ..., seccomp_profile: _Optional[_Union[_seccomp_pb2.ContainerSeccompProfile, _Mapping]] = ..., effective_capabilities: _Optional[_Union[_mesos_pb2.CapabilityInfo, _Mapping]] = ..., bounding_capabilities: _Optional[_Union[_mesos_pb2.CapabilityInfo, _Mapping]] = ..., rlimits: _Optional[_Union[_mesos_pb2.RLimitInfo, _Mapping]] = ..., tty_slave_path: _Optional[str] = ..., task_environment: _Optional[_Union[_mesos_pb2.Environment, _Mapping]] = ..., task_supplementary_groups: _Optional[_Iterable[int]] = ..., no_new_privileges: _Optional[bool] = ...) -> None: ...

class ContainerTermination(_message.Message):
    __slots__ = ("status", "state", "reason", "message", "limited_resources")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LIMITED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    status: int
    state: _mesos_pb2.TaskState
    reason: _mesos_pb2.TaskStatus.Reason
    message: str
    limited_resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
    def __init__(self, status: _Optional[int] = ..., state: _Optional[_Union[_mesos_pb2.TaskState, str]] = ..., reason: _Optional[_Union[_mesos_pb2.TaskStatus.Reason, str]] = ..., message: _Optional[str] = ..., limited_resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ...) -> None: ...

class ContainerLayers(_message.Message):
    __slots__ = ("paths", "config")
    PATHS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    paths: _containers.RepeatedScalarFieldContainer[str]
    config: str
    def __init__(self, paths: _Optional[_Iterable[str]] = ..., config: _Optional[str] = ...) -> None: ...
