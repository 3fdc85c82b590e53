# language: zh-TW
功能: 任務狀態機
  作為開發者
  我需要每個動作在每個狀態下都有明確的結果
  為了讓任務狀態永遠一致

  Queued --取出--> Pending --執行--> Processing --2xx--> Completed（搬移到封存表）
  Queued、Pending --取消--> Cancelled；Failed --執行（重試）--> Processing
  其他動作一律拒絕（409），且不改變任務。

  場景大綱: 在 <目前狀態> 狀態下<動作>
    假設 Callback API 回應 202 並稍後回報結果
    而且 存在狀態為 "<目前狀態>" 的任務
    當 我對任務<動作>
    那麼 回應狀態碼應該是 <回應碼>
    而且 任務狀態應該是 "<之後狀態>"
    而且 Callback API 因此被呼叫 <呼叫次數> 次
    而且 被拒絕時回應應該指出目前狀態 "<目前狀態>"

    例子:
      | 目前狀態   | 動作     | 回應碼 | 之後狀態   | 呼叫次數 |
      | Queued     | 取出     | 200    | Pending    | 0        |
      | Queued     | 執行     | 409    | Queued     | 0        |
      | Queued     | 取消     | 204    | Cancelled  | 0        |
      | Queued     | 回報成功 | 403    | Queued     | 0        |
      | Queued     | 回報失敗 | 403    | Queued     | 0        |
      | Pending    | 取出     | 409    | Pending    | 0        |
      | Pending    | 執行     | 200    | Processing | 1        |
      | Pending    | 取消     | 204    | Cancelled  | 0        |
      | Pending    | 回報成功 | 403    | Pending    | 0        |
      | Pending    | 回報失敗 | 403    | Pending    | 0        |
      | Processing | 取出     | 409    | Processing | 0        |
      | Processing | 執行     | 409    | Processing | 0        |
      | Processing | 取消     | 409    | Processing | 0        |
      | Processing | 回報成功 | 200    | Completed  | 0        |
      | Processing | 回報失敗 | 200    | Failed     | 0        |
      | Completed  | 取出     | 409    | Completed  | 0        |
      | Completed  | 執行     | 409    | Completed  | 0        |
      | Completed  | 取消     | 409    | Completed  | 0        |
      | Completed  | 回報成功 | 409    | Completed  | 0        |
      | Completed  | 回報失敗 | 409    | Completed  | 0        |
      | Failed     | 取出     | 409    | Failed     | 0        |
      | Failed     | 執行     | 200    | Processing | 1        |
      | Failed     | 取消     | 409    | Failed     | 0        |
      | Failed     | 回報成功 | 409    | Failed     | 0        |
      | Failed     | 回報失敗 | 409    | Failed     | 0        |
      | Cancelled  | 取出     | 409    | Cancelled  | 0        |
      | Cancelled  | 執行     | 409    | Cancelled  | 0        |
      | Cancelled  | 取消     | 204    | Cancelled  | 0        |
      | Cancelled  | 回報成功 | 403    | Cancelled  | 0        |
      | Cancelled  | 回報失敗 | 403    | Cancelled  | 0        |
