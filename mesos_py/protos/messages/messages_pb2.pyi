from mesos_py.protos.mesos.v1 import mesos_pb2 as _mesos_pb2
from mesos_py.protos.mesos.v1.resource_provider import resource_provider_pb2 as _resource_provider_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusUpdate(_message.Message):
    __slots__ = ("framework_id", "executor_id", "slave_id", "status", "timestamp", "uuid", "latest_state")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    LATEST_STATE_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    executor_id: _mesos_pb2.ExecutorID
    slave_id: _mesos_pb2.AgentID
    status: _mesos_pb2.TaskStatus
    timestamp: float
    uuid: bytes
    latest_state: _mesos_pb2.TaskState
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., executor_id: _Optional[_Union[_mesos_pb2.ExecutorID, _Mapping]] = ..., slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., status: _Optional[_Union[_mesos_pb2.TaskStatus, _Mapping]] = ..., timestamp: _Optional[float] = ..., uuid: _Optional[bytes] = ..., latest_state: _Optional[_Union[_mesos_pb2.TaskState, str]] = ...) -> None: ...

class StatusUpdateRecord(_message.Message):
    __slots__ = ("type", "update", "uuid")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UPDATE: _ClassVar[StatusUpdateRecord.Type]
        ACK: _ClassVar[StatusUpdateRecord.Type]
    UPDATE: StatusUpdateRecord.Type
    ACK: StatusUpdateRecord.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    type: StatusUpdateRecord.Type
    update: StatusUpdate
    uuid: bytes
    def __init__(self, type: _Optional[_Union[StatusUpdateRecord.Type, str]] = ..., update: _Optional[_Union[StatusUpdate, _Mapping]] = ..., uuid: _Optional[bytes] = ...) -> None: ...

class SubmitSchedulerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SubmitSchedulerResponse(_message.Message):
    __slots__ = ("okay",)
    OKAY_FIELD_NUMBER: _ClassVar[int]
    okay: bool
    def __init__(self, okay: _Optional[bool] = ...) -> None: ...

class ExecutorToFrameworkMessage(_message.Message):
    __slots__ = ("slave_id", "framework_id", "executor_id", "data")
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    framework_id: _mesos_pb2.FrameworkID
    executor_id: _mesos_pb2.ExecutorID
    data: bytes
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., executor_id: _Optional[_Union[_mesos_pb2.ExecutorID, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class FrameworkToExecutorMessage(_message.Message):
    __slots__ = ("slave_id", "framework_id", "executor_id", "data")
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    framework_id: _mesos_pb2.FrameworkID
    executor_id: _mesos_pb2.ExecutorID
    data: bytes
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., executor_id: _Optional[_Union[_mesos_pb2.ExecutorID, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class RegisterFrameworkMessage(_message.Message):
    __slots__ = ("framework",)
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    framework: _mesos_pb2.FrameworkInfo
    def __init__(self, framework: _Optional[_Union[_mesos_pb2.FrameworkInfo, _Mapping]] = ...) -> None: ...

class ReregisterFrameworkMessage(_message.Message):
    __slots__ = ("framework", "failover")
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    FAILOVER_FIELD_NUMBER: _ClassVar[int]
    framework: _mesos_pb2.FrameworkInfo
    failover: bool
    def __init__(self, framework: _Optional[_Union[_mesos_pb2.FrameworkInfo, _Mapping]] = ..., failover: _Optional[bool] = ...) -> None: ...

class FrameworkRegisteredMessage(_message.Message):
    __slots__ = ("framework_id", "master_info")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    MASTER_INFO_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    master_info: _mesos_pb2.MasterInfo
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., master_info: _Optional[_Union[_mesos_pb2.MasterInfo, _Mapping]] = ...) -> None: ...

class FrameworkReregisteredMessage(_message.Message):
    __slots__ = ("framework_id", "master_info")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    MASTER_INFO_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    master_info: _mesos_pb2.MasterInfo
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., master_info: _Optional[_Union[_mesos_pb2.MasterInfo, _Mapping]] = ...) -> None: ...

class UnregisterFrameworkMessage(_message.Message):
    __slots__ = ("framework_id",)
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ...) -> None: ...

class DeactivateFrameworkMessage(_message.Message):
    __slots__ = ("framework_id",)
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ...) -> None: ...

class ResourceRequestMessage(_message.Message):
    __slots__ = ("framework_id", "requests")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    requests: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Request]
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., requests: _Optional[_Iterable[_Union[_mesos_pb2.Request, _Mapping]]] = ...) -> None: ...

class ResourceOffersMessage(_message.Message):
    __slots__ = ("offers", "pids")
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Offer]
    pids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, offers: _Optional[_Iterable[_Union[_mesos_pb2.Offer, _Mapping]]] = ..., pids: _Optional[_Iterable[str]] = ...) -> None: ...

class InverseOffersMessage(_message.Message):
    __slots__ = ("inverse_offers", "pids")
    INVERSE_OFFERS_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    inverse_offers: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.InverseOffer]
    pids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, inverse_offers: _Optional[_Iterable[_Union[_mesos_pb2.InverseOffer, _Mapping]]] = ..., pids: _Optional[_Iterable[str]] = ...) -> None: ...

class LaunchTasksMessage(_message.Message):
    __slots__ = ("framework_id", "tasks", "filters", "offer_ids")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    OFFER_IDS_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    tasks: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.TaskInfo]
    filters: _mesos_pb2.Filters
    offer_ids: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.OfferID]
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[_mesos_pb2.TaskInfo, _Mapping]]] = ..., filters: _Optional[_Union[_mesos_pb2.Filters, _Mapping]] = ..., offer_ids: _Optional[_Iterable[_Union[_mesos_pb2.OfferID, _Mapping]]] = ...) -> None: ...

class RescindResourceOfferMessage(_message.Message):
    __slots__ = ("offer_id",)
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: _mesos_pb2.OfferID
    def __init__(self, offer_id: _Optional[_Union[_mesos_pb2.OfferID, _Mapping]] = ...) -> None: ...

class RescindInverseOfferMessage(_message.Message):
    __slots__ = ("inverse_offer_id",)
    INVERSE_OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    inverse_offer_id: _mesos_pb2.OfferID
    def __init__(self, inverse_offer_id: _Optional[_Union[_mesos_pb2.OfferID, _Mapping]] = ...) -> None: ...

class ReviveOffersMessage(_message.Message):
    __slots__ = ("framework_id", "roles")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class RunTaskMessage(_message.Message):
    __slots__ = ("framework_id", "framework", "task", "resource_version_uuids", "pid", "launch_executor")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_UUIDS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    framework: _mesos_pb2.FrameworkInfo
    task: _mesos_pb2.TaskInfo
    resource_version_uuids: _containers.RepeatedCompositeFieldContainer[ResourceVersionUUID]
    pid: str
    launch_executor: bool
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., framework: _Optional[_Union[_mesos_pb2.FrameworkInfo, _Mapping]] = ..., task: _Optional[_Union[_mesos_pb2.TaskInfo, _Mapping]] = ..., resource_version_uuids: _Optional[_Iterable[_Union[ResourceVersionUUID, _Mapping]]] = ..., pid: _Optional[str] = ..., launch_executor: _Optional[bool] = ...) -> None: ...

class RunTaskGroupMessage(_message.Message):
    __slots__ = ("framework", "executor", "task_group", "resource_version_uuids", "launch_executor")
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    TASK_GROUP_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_UUIDS_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    framework: _mesos_pb2.FrameworkInfo
    executor: _mesos_pb2.ExecutorInfo
    task_group: _mesos_pb2.TaskGroupInfo
    resource_version_uuids: _containers.RepeatedCompositeFieldContainer[ResourceVersionUUID]
    launch_executor: bool
    def __init__(self, framework: _Optional[_Union[_mesos_pb2.FrameworkInfo, _Mapping]] = ..., executor: _Optional[_Union[_mesos_pb2.ExecutorInfo, _Mapping]] = ..., task_group: _Optional[_Union[_mesos_pb2.TaskGroupInfo, _Mapping]] = ..., resource_version_uuids: _Optional[_Iterable[_Union[ResourceVersionUUID, _Mapping]]] = ..., launch_executor: _Optional[bool] = ...) -> None: ...

class KillTaskMessage(_message.Message):
    __slots__ = ("framework_id", "task_id", "kill_policy")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    KILL_POLICY_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    task_id: _mesos_pb2.TaskID
    kill_policy: _mesos_pb2.KillPolicy
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., task_id: _Optional[_Union[_mesos_pb2.TaskID, _Mapping]] = ..., kill_policy: _Optional[_Union[_mesos_pb2.KillPolicy, _Mapping]] = ...) -> None: ...

class StatusUpdateMessage(_message.Message):
    __slots__ = ("update", "pid")
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    update: StatusUpdate
    pid: str
    def __init__(self, update: _Optional[_Union[StatusUpdate, _Mapping]] = ..., pid: _Optional[str] = ...) -> None: ...

class StatusUpdateAcknowledgementMessage(_message.Message):
    __slots__ = ("slave_id", "framework_id", "task_id", "uuid")
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    framework_id: _mesos_pb2.FrameworkID
    task_id: _mesos_pb2.TaskID
    uuid: bytes
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., task_id: _Optional[_Union[_mesos_pb2.TaskID, _Mapping]] = ..., uuid: _Optional[bytes] = ...) -> None: ...

class AcknowledgeOperationStatusMessage(_message.Message):
    __slots__ = ("status_uuid", "operation_uuid", "resource_provider_id")
    STATUS_UUID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_UUID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    status_uuid: _mesos_pb2.UUID
    operation_uuid: _mesos_pb2.UUID
    resource_provider_id: _mesos_pb2.ResourceProviderID
    def __init__(self, status_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ..., operation_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ..., resource_provider_id: _Optional[_Union[_mesos_pb2.ResourceProviderID, _Mapping]] = ...) -> None: ...

class LostSlaveMessage(_message.Message):
    __slots__ = ("slave_id",)
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ...) -> None: ...

class ReconcileTasksMessage(_message.Message):
    __slots__ = ("framework_id", "statuses", "framework")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    statuses: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.TaskStatus]
    framework: _mesos_pb2.FrameworkInfo
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., statuses: _Optional[_Iterable[_Union[_mesos_pb2.TaskStatus, _Mapping]]] = ..., framework: _Optional[_Union[_mesos_pb2.FrameworkInfo, _Mapping]] = ...) -> None: ...

class ReconcileOperationsMessage(_message.Message):
    __slots__ = ("operations", "framework_id")
    class Operation(_message.Message):
        __slots__ = ("operation_uuid", "operation_id", "resource_provider_id")
        OPERATION_UUID_FIELD_NUMBER: _ClassVar[int]
        OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
        RESOURCE_PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
        operation_uuid: _mesos_pb2.UUID
        operation_id: _mesos_pb2.OperationID
        resource_provider_id: _mesos_pb2.ResourceProviderID
        def __init__(self, operation_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ..., operation_id: _Optional[_Union[_mesos_pb2.OperationID, _Mapping]] = ..., resource_provider_id: _Optional[_Union[_mesos_pb2.ResourceProviderID, _Mapping]] = ...) -> None: ...
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[ReconcileOperationsMessage.Operation]
    framework_id: _mesos_pb2.FrameworkID
    def __init__(self, operations: _Optional[_Iterable[_Union[ReconcileOperationsMessage.Operation, _Mapping]]] = ..., framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ...) -> None: ...

class FrameworkErrorMessage(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class RegisterSlaveMessage(_message.Message):
    __slots__ = ("slave", "checkpointed_resources", "version", "agent_capabilities", "resource_version_uuid")
    SLAVE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_UUID_FIELD_NUMBER: _ClassVar[int]
    slave: _mesos_pb2.AgentInfo
    checkpointed_resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
    version: str
    agent_capabilities: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.AgentInfo.Capability]
    resource_version_uuid: _mesos_pb2.UUID
    def __init__(self, slave: _Optional[_Union[_mesos_pb2.AgentInfo, _Mapping]] = ..., checkpointed_resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ..., version: _Optional[str] = ..., agent_capabilities: _Optional[_Iterable[_Union[_mesos_pb2.AgentInfo.Capability, _Mapping]]] = ..., resource_version_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ...) -> None: ...

class ReregisterSlaveMessage(_message.Message):
    __slots__ = ("slave", "checkpointed_resources", "executor_infos", "tasks", "frameworks", "completed_frameworks", "version", "agent_capabilities", "resource_version_uuid")
    SLAVE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_INFOS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_UUID_FIELD_NUMBER: _ClassVar[int]
    slave: _mesos_pb2.AgentInfo
    checkpointed_resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
    executor_infos: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.ExecutorInfo]
    tasks: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Task]
    frameworks: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.FrameworkInfo]
    completed_frameworks: _containers.RepeatedCompositeFieldContainer[Archive.Framework]
    version: str
    agent_capabilities: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.AgentInfo.Capability]
    resource_version_uuid: _mesos_pb2.UUID
    def __init__(self, slave: _Optional[_Union[_mesos_pb2.AgentInfo, _Mapping]] = ..., checkpointed_resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ..., executor_infos: _Optional[_Iterable[_Union[_mesos_pb2.ExecutorInfo, _Mapping]]] = ..., tasks: _Optional[_Iterable[_Union[_mesos_pb2.Task, _Mapping]]] = ..., frameworks: _Optional[_Iterable[_Union[_mesos_pb2.FrameworkInfo, _Mapping]]] = ..., completed_frameworks: _Optional[_Iterable[_Union[Archive.Framework, _Mapping]]] = ..., version: _Optional[str] = ..., agent_capabilities: _Optional[_Iterable[_Union[_mesos_pb2.AgentInfo.Capability, _Mapping]]] = ..., resource_version_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ...) -> None: ...

class SlaveRegisteredMessage(_message.Message):
    __slots__ = ("slave_id", "connection")
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    connection: MasterSlaveConnection
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., connection: _Optional[_Union[MasterSlaveConnection, _Mapping]] = ...) -> None: ...

class SlaveReregisteredMessage(_message.Message):
    __slots__ = ("slave_id", "reconciliations", "connection")
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    RECONCILIATIONS_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    reconciliations: _containers.RepeatedCompositeFieldContainer[ReconcileTasksMessage]
    connection: MasterSlaveConnection
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., reconciliations: _Optional[_Iterable[_Union[ReconcileTasksMessage, _Mapping]]] = ..., connection: _Optional[_Union[MasterSlaveConnection, _Mapping]] = ...) -> None: ...

class UnregisterSlaveMessage(_message.Message):
    __slots__ = ("slave_id",)
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ...) -> None: ...

class MasterSlaveConnection(_message.Message):
    __slots__ = ("total_ping_timeout_seconds",)
    TOTAL_PING_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    total_ping_timeout_seconds: float
    def __init__(self, total_ping_timeout_seconds: _Optional[float] = ...) -> None: ...

class PingSlaveMessage(_message.Message):
    __slots__ = ("connected",)
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    connected: bool
    def __init__(self, connected: _Optional[bool] = ...) -> None: ...

class PongSlaveMessage(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShutdownFrameworkMessage(_message.Message):
    __slots__ = ("framework_id",)
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ...) -> None: ...

class ShutdownExecutorMessage(_message.Message):
    __slots__ = ("executor_id", "framework_id")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    executor_id: _mesos_pb2.ExecutorID
    framework_id: _mesos_pb2.FrameworkID
    def __init__(self, executor_id: _Optional[_Union[_mesos_pb2.ExecutorID, _Mapping]] = ..., framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ...) -> None: ...

class UpdateFrameworkMessage(_message.Message):
    __slots__ = ("framework_id", "pid", "framework_info")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_INFO_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    pid: str
    framework_info: _mesos_pb2.FrameworkInfo
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., pid: _Optional[str] = ..., framework_info: _Optional[_Union[_mesos_pb2.FrameworkInfo, _Mapping]] = ...) -> None: ...

class CheckpointResourcesMessage(_message.Message):
    __slots__ = ("resources",)
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
    def __init__(self, resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ...) -> None: ...

class ResourceVersionUUID(_message.Message):
    __slots__ = ("resource_provider_id", "uuid")
    RESOURCE_PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    resource_provider_id: _mesos_pb2.ResourceProviderID
    uuid: _mesos_pb2.UUID
    def __init__(self, resource_provider_id: _Optional[_Union[_mesos_pb2.ResourceProviderID, _Mapping]] = ..., uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ...) -> None: ...

class UpdateSlaveMessage(_message.Message):
    __slots__ = ("slave_id", "update_oversubscribed_resources", "oversubscribed_resources", "operations", "resource_version_uuid", "resource_providers")
    class Operations(_message.Message):
        __slots__ = ("operations",)
        OPERATIONS_FIELD_NUMBER: _ClassVar[int]
        operations: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Operation]
        def __init__(self, operations: _Optional[_Iterable[_Union[_mesos_pb2.Operation, _Mapping]]] = ...) -> None: ...
    class ResourceProvider(_message.Message):
        __slots__ = ("info", "total_resources", "operations", "resource_version_uuid")
        INFO_FIELD_NUMBER: _ClassVar[int]
        TOTAL_RESOURCES_FIELD_NUMBER: _ClassVar[int]
        OPERATIONS_FIELD_NUMBER: _ClassVar[int]
        RESOURCE_VERSION_UUID_FIELD_NUMBER: _ClassVar[int]
        info: _mesos_pb2.ResourceProviderInfo
        total_resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
        operations: UpdateSlaveMessage.Operations
        resource_version_uuid: _mesos_pb2.UUID
        def __init__(self, info: _Optional[_Union[_mesos_pb2.ResourceProviderInfo, _Mapping]] = ..., total_resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ..., operations: _Optional[_Union[UpdateSlaveMessage.Operations, _Mapping]] = ..., resource_version_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ...) -> None: ...
    class ResourceProviders(_message.Message):
        __slots__ = ("providers",)
        PROVIDERS_FIELD_NUMBER: _ClassVar[int]
        providers: _containers.RepeatedCompositeFieldContainer[UpdateSlaveMessage.ResourceProvider]
        def __init__(self, providers: _Optional[_Iterable[_Union[UpdateSlaveMessage.ResourceProvider, _Mapping]]] = ...) -> None: ...
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_OVERSUBSCRIBED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    OVERSUBSCRIBED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_UUID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    update_oversubscribed_resources: bool
    oversubscribed_resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
    operations: UpdateSlaveMessage.Operations
    resource_version_uuid: _mesos_pb2.UUID
    resource_providers: UpdateSlaveMessage.ResourceProviders
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., update_oversubscribed_resources: _Optional[bool] = ..., oversubscribed_resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ..., operations: _Optional[_Union[UpdateSlaveMessage.Operations, _Mapping]] = ..., resource_version_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ..., resource_providers: _Optional[_Union[UpdateSlaveMessage.ResourceProviders, _Mapping]] = ...) -> None: ...

class UpdateOperationStatusMessage(_message.Message):
    __slots__ = ("framework_id", "slave_id", "status", "latest_status", "operation_uuid")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LATEST_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_UUID_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    slave_id: _mesos_pb2.AgentID
    status: _mesos_pb2.OperationStatus
    latest_status: _mesos_pb2.OperationStatus
    operation_uuid: _mesos_pb2.UUID
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., status: _Optional[_Union[_mesos_pb2.OperationStatus, _Mapping]] = ..., latest_status: _Optional[_Union[_mesos_pb2.OperationStatus, _Mapping]] = ..., operation_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ...) -> None: ...

class UpdateOperationStatusRecord(_message.Message):
    __slots__ = ("type", "update", "uuid")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UPDATE: _ClassVar[UpdateOperationStatusRecord.Type]
        ACK: _ClassVar[UpdateOperationStatusRecord.Type]
    UPDATE: UpdateOperationStatusRecord.Type
    ACK: UpdateOperationStatusRecord.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    type: UpdateOperationStatusRecord.Type
    update: UpdateOperationStatusMessage
    uuid: _mesos_pb2.UUID
    def __init__(self, type: _Optional[_Union[UpdateOperationStatusRecord.Type, str]] = ..., update: _Optional[_Union[UpdateOperationStatusMessage, _Mapping]] = ..., uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ...) -> None: ...

class ApplyOperationMessage(_message.Message):
    __slots__ = ("framework_id", "operation_info", "operation_uuid", "resource_version_uuid")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_INFO_FIELD_NUMBER: _ClassVar[int]
    OPERATION_UUID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_UUID_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    operation_info: _mesos_pb2.Offer.Operation
    operation_uuid: _mesos_pb2.UUID
    resource_version_uuid: ResourceVersionUUID
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., operation_info: _Optional[_Union[_mesos_pb2.Offer.Operation, _Mapping]] = ..., operation_uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ..., resource_version_uuid: _Optional[_Union[ResourceVersionUUID, _Mapping]] = ...) -> None: ...

class ResourceProviderCallMessage(_message.Message):
    __slots__ = ("call", "uuid")
    CALL_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    call: _resource_provider_pb2.Call
    uuid: _mesos_pb2.UUID
    def __init__(self, call: _Optional[_Union[_resource_provider_pb2.Call, _Mapping]] = ..., uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ...) -> None: ...

class ResourceProviderEventMessage(_message.Message):
    __slots__ = ("resource_provider_id", "event", "uuid")
    RESOURCE_PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    resource_provider_id: _mesos_pb2.ResourceProviderID
    event: _resource_provider_pb2.Event
    uuid: _mesos_pb2.UUID
    def __init__(self, resource_provider_id: _Optional[_Union[_mesos_pb2.ResourceProviderID, _Mapping]] = ..., event: _Optional[_Union[_resource_provider_pb2.Event, _Mapping]] = ..., uuid: _Optional[_Union[_mesos_pb2.UUID, _Mapping]] = ...) -> None: ...

class RegisterExecutorMessage(_message.Message):
    __slots__ = ("framework_id", "executor_id")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    framework_id: _mesos_pb2.FrameworkID
    executor_id: _mesos_pb2.ExecutorID
    def __init__(self, framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., executor_id: _Optional[_Union[_mesos_pb2.ExecutorID, _Mapping]] = ...) -> None: ...

class ExecutorRegisteredMessage(_message.Message):
    __slots__ = ("executor_info", "framework_id", "framework_info", "slave_id", "slave_info")
    EXECUTOR_INFO_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_INFO_FIELD_NUMBER: _ClassVar[int]
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    SLAVE_INFO_FIELD_NUMBER: _ClassVar[int]
    executor_info: _mesos_pb2.ExecutorInfo
    framework_id: _mesos_pb2.FrameworkID
    framework_info: _mesos_pb2.FrameworkInfo
    slave_id: _mesos_pb2.AgentID
    slave_info: _mesos_pb2.AgentInfo
    def __init__(self, executor_info: _Optional[_Union[_mesos_pb2.ExecutorInfo, _Mapping]] = ..., framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., framework_info: _Optional[_Union[_mesos_pb2.FrameworkInfo, _Mapping]] = ..., slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., slave_info: _Optional[_Union[_mesos_pb2.AgentInfo, _Mapping]] = ...) -> None: ...

class ExecutorReregisteredMessage(_message.Message):
    __slots__ = ("slave_id", "slave_info")
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    SLAVE_INFO_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    slave_info: _mesos_pb2.AgentInfo
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., slave_info: _Optional[_Union[_mesos_pb2.AgentInfo, _Mapping]] = ...) -> None: ...

class ExitedExecutorMessage(_message.Message):
    __slots__ = ("slave_id", "framework_id", "executor_id", "status")
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    framework_id: _mesos_pb2.FrameworkID
    executor_id: _mesos_pb2.ExecutorID
    status: int
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ..., framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., executor_id: _Optional[_Union[_mesos_pb2.ExecutorID, _Mapping]] = ..., status: _Optional[int] = ...) -> None: ...

class ReconnectExecutorMessage(_message.Message):
    __slots__ = ("slave_id",)
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    slave_id: _mesos_pb2.AgentID
    def __init__(self, slave_id: _Optional[_Union[_mesos_pb2.AgentID, _Mapping]] = ...) -> None: ...

class ReregisterExecutorMessage(_message.Message):
    __slots__ = ("executor_id", "framework_id", "tasks", "updates")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    executor_id: _mesos_pb2.ExecutorID
    framework_id: _mesos_pb2.FrameworkID
    tasks: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.TaskInfo]
    updates: _containers.RepeatedCompositeFieldContainer[StatusUpdate]
    def __init__(self, executor_id: _Optional[_Union[_mesos_pb2.ExecutorID, _Mapping]] = ..., framework_id: _Optional[_Union[_mesos_pb2.FrameworkID, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[_mesos_pb2.TaskInfo, _Mapping]]] = ..., updates: _Optional[_Iterable[_Union[StatusUpdate, _Mapping]]] = ...) -> None: ...

class DrainSlaveMessage(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: _mesos_pb2.DrainConfig
    def __init__(self, config: _Optional[_Union[_mesos_pb2.DrainConfig, _Mapping]] = ...) -> None: ...

class ShutdownMessage(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class Archive(_message.Message):
    __slots__ = ("frameworks",)
    class Framework(_message.Message):
        __slots__ = ("framework_info", "pid", "tasks")
        FRAMEWORK_INFO_FIELD_NUMBER: _ClassVar[int]
        PID_FIELD_NUMBER: _ClassVar[int]
        TASKS_FIELD_NUMBER: _ClassVar[int]
        framework_info: _mesos_pb2.FrameworkInfo
        pid: str
        tasks: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Task]
        def __init__(self, framework_info: _Optional[_Union[_mesos_pb2.FrameworkInfo, _Mapping]] = ..., pid: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[_mesos_pb2.Task, _Mapping]]] = ...) -> None: ...
    FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    frameworks: _containers.RepeatedCompositeFieldContainer[Archive.Framework]
    def __init__(self, frameworks: _Optional[_Iterable[_Union[Archive.Framework, _Mapping]]] = ...) -> None: ...

class TaskHealthStatus(_message.Message):
    __slots__ = ("task_id", "healthy", "kill_task", "consecutive_failures")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    KILL_TASK_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    task_id: _mesos_pb2.TaskID
    healthy: bool
    kill_task: bool
    consecutive_failures: int
    def __init__(self, task_id: _Optional[_Union[_mesos_pb2.TaskID, _Mapping]] = ..., healthy: _Optional[bool] = ..., kill_task: _Optional[bool] = ..., consecutive_failures: _Optional[int] = ...) -> None: ...

class HookExecuted(_message.Message):
    __slots__ = ("module",)
    MODULE_FIELD_NUMBER: _ClassVar[int]
    module: str
    def __init__(self, module: _Optional[str] = ...) -> None: ...
