# language: zh-TW
功能: US-005 任務取消
  作為一個 開發者
  我想要 取消尚未完成的任務
  為了 停止不必要的處理

  場景大綱: 取消尚未開始的任務
    假設 任務狀態為 <狀態>
    當 我呼叫 DELETE /api/v1/tasks/{id}
    那麼 系統應該更新任務狀態為 Cancelled
    而且 如果任務在 Queue 中則移除

    例子:
      | 狀態    |
      | Queued  |
      | Pending |

  場景大綱: 已開始或已結束的任務不能取消
    假設 任務狀態為 <狀態>
    而且 Callback API 回應 202 並稍後回報結果
    當 我呼叫 DELETE /api/v1/tasks/{id}
    那麼 回應狀態碼應該是 409
    而且 任務狀態應該仍是 "<狀態>"

    例子:
      | 狀態       |
      | Processing |
      | Completed  |
      | Failed     |
