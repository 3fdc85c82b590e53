# language: zh-TW
功能: US-003 任務執行
  作為一個 後端開發者
  我想要 執行特定任務
  為了 觸發 Callback API 並完成處理

  場景: 執行 Pending 任務
    假設 資料庫中存在 Pending 狀態的任務
    當 我呼叫 POST /api/v1/tasks/{id}/execute
    那麼 系統應該更新狀態為 Processing
    而且 呼叫任務中指定的 Callback API
    而且 根據 Callback 結果更新最終狀態

  場景大綱: 最終狀態取決於 Callback 結果
    假設 資料庫中存在 Pending 狀態的任務
    而且 Callback API 的回應是 <回應>
    當 我呼叫 POST /api/v1/tasks/{id}/execute
    那麼 回應狀態碼應該是 200
    而且 任務狀態應該更新為 "<最終狀態>"
    而且 記錄的 Callback 狀態碼是 <記錄的狀態碼>

    例子:
      | 回應     | 最終狀態  | 記錄的狀態碼 |
      | 200      | Completed | 200          |
      | 201      | Completed | 201          |
      | 204      | Completed | 204          |
      | 302      | Failed    | 302          |
      | 400      | Failed    | 400          |
      | 404      | Failed    | 404          |
      | 500      | Failed    | 500          |
      | 503      | Failed    | 503          |
      | 連線被拒 | Failed    | 無           |
